"""hBehaveMAE in plain PyTorch: a Hiera-style hierarchical masked autoencoder for activity series.

Method: Stoffl et al., "Elucidating the hierarchical nature of behavior with masked autoencoders"
(ECCV 2024), which applies Hiera (Ryali et al., ICML 2023) to behavioural time series, with the MAE
objective of He et al. (CVPR 2022). Written from the papers; no code copied.

Shapes. One sample is a window ``(T, H, W)`` = (minutes, 1, electrodes), fed as ``(B, 1, T, H, W)``.

- **Patch embedding**: ``Conv3d(1, D1, kernel=stride=patch_kernel)`` -> token grid
  ``(T/pt, H/ph, W/pw)``, plus a learned separable positional embedding.
- **Mask units**: the token grid is cut into mask units of ``mu = prod(q_strides)`` tokens per axis
  (so every pooling step stays inside a unit and the last level has exactly one token per unit).
  Internally activations are kept as ``(B, U, t, h, w, D)``: U units, each a ``(t, h, w)`` token grid.
- **Stages**: ``stages[s]`` transformer blocks; the first block of stage s > 0 max-pools its queries
  (and the residual) by ``q_strides[s-1]`` and changes the width to ``dims[s]`` (doubling, or
  ``out_embed_dims``) and heads (doubling, or ``out_num_heads``). Attention is within mask units where
  ``mask_unit_attn[s]`` (early stages), global over all (kept) tokens otherwise.
- **MAE masking**: per sample, ``floor(U * mask_ratio)`` units are masked (at least one kept); the
  encoder sees only the kept units.
- **Decoder**: ``single`` decodes the last level; ``multi`` first fuses every level into the last
  one (strided Conv3d per level, summed). Masked units get a learned mask token; a small transformer
  predicts each unit's pixels (``prod(mu * patch_kernel)`` values).
- **Loss**: MSE on the masked units only, weighted by the pixel validity mask (gaps do not count),
  optionally on per-patch normalised targets (``norm_pix_loss``).

Why this module is long: one network whose parts (patching, mask units, the Hiera stages with their
q-pooling, the level projections, the decoders and the masked loss) share the token-layout and shape
conventions written above; split, each part would have to restate them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ethoflow.core.errors import ParamsError
from ethoflow.hbehave.params import ModelParams, parse_q_strides


@dataclass(frozen=True)
class Architecture:
    """Validated, derived architecture numbers (all plain ints; saved in checkpoints).

    Attributes:
        input_size: (T, H, W) of a window.
        patch_kernel: (pt, ph, pw).
        tokens: token grid (T/pt, H/ph, W/pw) of level 1.
        q_strides: pooling strides between stages.
        mask_unit: tokens per mask unit per axis (product of q_strides).
        units: mask units per axis; ``n_units`` their product.
        dims, heads, depths, mask_unit_attn: per stage.
        level_tokens: (t, h, w) per unit at each level; ``level_grid``: the level's full token grid.
        minutes_per_token: minutes covered by one token of each level.
        pos_embed: ``separable`` (learned per time, H and W position, summed), ``full`` (one per token) or
            ``temporal_spatial`` (per time + per (H, W) position): the last two are BehaveMAE's
            ``pos_embed`` and ``sep_pos_embed``.
        level_proj_dims: per level, a linear projection of the stage output to this width (BehaveMAE's
            ``projections``, its ``out_embed_dims``); ``None``: levels are the stage outputs.
        final_norm: LayerNorm on the last level (ethoflow's encoder; BehaveMAE's levels have none).
        pool_attn: attention scope of a stage's first (pooling) block: ``either`` (within mask units
            if the previous or this stage uses them) or ``previous`` (the previous stage's, as BehaveMAE).
        norm_eps: LayerNorm epsilon (BehaveMAE: 1e-6).
        encoder_only: no decoder (a model loaded for extraction only).
    """

    input_size: tuple[int, int, int]
    patch_kernel: tuple[int, int, int]
    tokens: tuple[int, int, int]
    q_strides: tuple[tuple[int, int, int], ...]
    mask_unit: tuple[int, int, int]
    units: tuple[int, int, int]
    n_units: int
    dims: tuple[int, ...]
    heads: tuple[int, ...]
    depths: tuple[int, ...]
    mask_unit_attn: tuple[bool, ...]
    level_tokens: tuple[tuple[int, int, int], ...]
    level_grid: tuple[tuple[int, int, int], ...]
    minutes_per_token: tuple[int, ...]
    mlp_ratio: float
    mask_ratio: float
    decoder: str
    decoder_embed_dim: int
    decoder_depth: int
    decoder_num_heads: int
    norm_pix_loss: bool
    # Variants for checkpoints of the authors' code (``ethoflow.hbehave.pretrained``); the defaults are
    # ethoflow's own model, so checkpoints saved before these fields existed load unchanged.
    pos_embed: str = "separable"
    level_proj_dims: tuple[int, ...] | None = None
    final_norm: bool = True
    pool_attn: str = "either"
    norm_eps: float = 1e-5
    encoder_only: bool = False

    @property
    def n_levels(self) -> int:
        return len(self.dims)

    @property
    def unit_pixels(self) -> int:
        return math.prod(m * p for m, p in zip(self.mask_unit, self.patch_kernel))

    @property
    def n_keep(self) -> int:
        return max(1, self.n_units - int(math.floor(self.n_units * self.mask_ratio + 1e-9)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_architecture(params: ModelParams | dict[str, Any], where: str = "hbehave.model") -> Architecture:
    """Check that window, patch and strides divide evenly; derive the per-level numbers.

    Raises:
        ParamsError: naming the key and the numbers that do not divide.
    """
    if isinstance(params, dict):
        params = ModelParams(**params)
    T, H, W = params.input_size
    pk = tuple(params.patch_kernel)
    axes = "THW"
    for a, n, k in zip(axes, params.input_size, pk):
        if n % k:
            raise ParamsError(
                f"{where}: input_size {a}={n} is not divisible by patch_kernel {a}={k} ({n}/{k} = {n / k:.3f})"
            )
    tokens = tuple(n // k for n, k in zip(params.input_size, pk))
    qs = tuple(tuple(s) for s in parse_q_strides(params.q_strides))
    mu = tuple(math.prod(s[i] for s in qs) for i in range(3))
    for a, n, m in zip(axes, tokens, mu):
        if n % m:
            raise ParamsError(
                f"{where}: the {n} tokens along {a} (input_size/patch_kernel) are not divisible by the mask unit "
                f"{m} = product of q_strides along {a} ({params.q_strides}); choose input_size {a} as a multiple of "
                f"{m * pk[axes.index(a)]}"
            )
    units = tuple(n // m for n, m in zip(tokens, mu))
    n_st = len(params.stages)
    dims = (
        tuple(params.out_embed_dims)
        if params.out_embed_dims
        else tuple(params.init_embed_dim * 2**s for s in range(n_st))
    )
    heads = (
        tuple(params.out_num_heads)
        if params.out_num_heads
        else tuple(params.init_num_heads * 2**s for s in range(n_st))
    )
    for s, (d, h) in enumerate(zip(dims, heads)):
        if d % h:
            raise ParamsError(f"{where}: stage {s + 1} width {d} is not divisible by its {h} heads (set out_num_heads)")
    if params.decoder_embed_dim % params.decoder_num_heads:
        raise ParamsError(
            f"{where}: decoder_embed_dim {params.decoder_embed_dim} not divisible by decoder_num_heads {params.decoder_num_heads}"
        )
    mua = tuple(params.mask_unit_attn) if params.mask_unit_attn is not None else tuple(s == 0 for s in range(n_st))
    lt = [mu]
    for s in qs:
        lt.append(tuple(a // b for a, b in zip(lt[-1], s)))
    grid = tuple(tuple(u * t for u, t in zip(units, lv)) for lv in lt)
    mpt = [pk[0]]
    for s in qs:
        mpt.append(mpt[-1] * s[0])
    return Architecture(
        input_size=tuple(params.input_size),
        patch_kernel=pk,
        tokens=tokens,
        q_strides=qs,
        mask_unit=mu,
        units=units,
        n_units=math.prod(units),
        dims=dims,
        heads=heads,
        depths=tuple(params.stages),
        mask_unit_attn=mua,
        level_tokens=tuple(lt),
        level_grid=grid,
        minutes_per_token=tuple(mpt),
        mlp_ratio=params.mlp_ratio,
        mask_ratio=params.mask_ratio,
        decoder=params.decoder,
        decoder_embed_dim=params.decoder_embed_dim,
        decoder_depth=params.decoder_depth,
        decoder_num_heads=params.decoder_num_heads,
        norm_pix_loss=params.norm_pix_loss,
    )


def architecture_from_dict(data: dict[str, Any]) -> Architecture:
    """Rebuild an :class:`Architecture` saved with ``to_dict`` (lists back to tuples)."""

    def tup(v):
        return tuple(tup(x) for x in v) if isinstance(v, (list, tuple)) else v

    return Architecture(**{k: tup(v) for k, v in data.items()})


# --------------------------------------------------------------------------- building blocks


def pool_units(x: torch.Tensor, stride: tuple[int, int, int]) -> torch.Tensor:
    """Max-pool the per-unit token grid: ``(B, U, t, h, w, D)`` -> ``(B, U, t/st, h/sh, w/sw, D)``."""
    B, U, t, h, w, D = x.shape
    st, sh, sw = stride
    x = x.reshape(B, U, t // st, st, h // sh, sh, w // sw, sw, D)
    return x.amax(dim=(3, 5, 7))


class UnitAttention(nn.Module):
    """Multi-head self-attention over ``(B, U, t, h, w, D)`` tokens, within mask units or global.

    Queries are max-pooled by ``q_stride`` (Hiera's query pooling) so the output has the pooled grid.
    """

    def __init__(self, dim: int, dim_out: int, heads: int, q_stride: tuple[int, int, int] | None, within_units: bool):
        super().__init__()
        self.heads, self.q_stride, self.within_units = heads, q_stride, within_units
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, U = x.shape[:2]
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.q_stride is not None:
            q = pool_units(q, self.q_stride)
        out_grid = q.shape[2:5]
        D = q.shape[-1]
        g = B * U if self.within_units else B

        def heads(z):
            return z.reshape(g, -1, self.heads, D // self.heads).transpose(1, 2)

        o = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        o = o.transpose(1, 2).reshape(B, U, *out_grid, D)
        return self.proj(o)


class Block(nn.Module):
    """Pre-norm transformer block; with ``q_stride`` it pools (and projects the residual when widening)."""

    def __init__(
        self, dim: int, dim_out: int, heads: int, mlp_ratio: float, q_stride=None, within_units=False, eps: float = 1e-5
    ):
        super().__init__()
        self.q_stride = q_stride
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = UnitAttention(dim, dim_out, heads, q_stride, within_units)
        self.res_proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        self.norm2 = nn.LayerNorm(dim_out, eps=eps)
        hidden = int(dim_out * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim_out, hidden), nn.GELU(), nn.Linear(hidden, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xn = self.norm1(x)
        if self.res_proj is not None:
            x = self.res_proj(xn)
        if self.q_stride is not None:
            x = pool_units(x, self.q_stride)
        x = x + self.attn(xn)
        return x + self.mlp(self.norm2(x))


class HBehaveMAE(nn.Module):
    """hBehaveMAE: hierarchical encoder + MAE decoder (see module docstring for the method).

    Args:
        arch: an :class:`Architecture` (from :func:`build_architecture`).

    Forward (training): ``loss, pred, mask = model(x, valid, generator)`` with ``x`` float
    ``(B, 1, T, H, W)``, ``valid`` bool of the same shape (``None``: all valid); ``mask`` bool
    ``(B, U)`` is True for masked units; ``pred`` ``(B, U, unit_pixels)``.
    Embeddings: :meth:`embed` returns per level ``(B, T_level, D_level)`` (spatial tokens averaged).
    """

    def __init__(self, arch: Architecture):
        super().__init__()
        self.arch = arch
        d0 = arch.dims[0]
        self.patch_embed = nn.Conv3d(1, d0, kernel_size=arch.patch_kernel, stride=arch.patch_kernel)
        Tt, Ht, Wt = arch.tokens
        if arch.pos_embed == "separable":
            self.pos_t = nn.Parameter(torch.zeros(Tt, d0))
            self.pos_h = nn.Parameter(torch.zeros(Ht, d0))
            self.pos_w = nn.Parameter(torch.zeros(Wt, d0))
        elif arch.pos_embed == "full":
            self.pos_embed = nn.Parameter(torch.zeros(Tt, Ht, Wt, d0))
        elif arch.pos_embed == "temporal_spatial":
            self.pos_t = nn.Parameter(torch.zeros(Tt, d0))
            self.pos_hw = nn.Parameter(torch.zeros(Ht, Wt, d0))
        else:
            raise ValueError(f"unknown pos_embed {arch.pos_embed!r} (separable, full, temporal_spatial)")
        if arch.pool_attn not in ("either", "previous"):
            raise ValueError(f"unknown pool_attn {arch.pool_attn!r} (either, previous)")
        eps = arch.norm_eps
        self.stages = nn.ModuleList()
        for s, depth in enumerate(arch.depths):
            blocks = []
            for i in range(depth):
                first = i == 0 and s > 0
                if not first:
                    within = arch.mask_unit_attn[s]
                elif arch.pool_attn == "previous":
                    within = arch.mask_unit_attn[s - 1]
                else:  # the pooling block keeps the previous stage's attention scope (pool, then go global)
                    within = arch.mask_unit_attn[s - 1] or arch.mask_unit_attn[s]
                blocks.append(
                    Block(
                        arch.dims[s - 1] if first else arch.dims[s],
                        arch.dims[s],
                        arch.heads[s],
                        arch.mlp_ratio,
                        q_stride=arch.q_strides[s - 1] if first else None,
                        within_units=within,
                        eps=eps,
                    )
                )
            self.stages.append(nn.Sequential(*blocks))
        dl = arch.dims[-1]
        if arch.final_norm:
            self.norm = nn.LayerNorm(dl, eps=eps)
        if arch.level_proj_dims is not None:
            self.level_proj = nn.ModuleList([nn.Linear(d, o) for d, o in zip(arch.dims, arch.level_proj_dims)])
        if arch.encoder_only:
            self._init()
            return
        # decoder
        self.fusion = nn.ModuleList()
        if arch.decoder == "multi":
            for s in range(arch.n_levels - 1):
                k = tuple(a // b for a, b in zip(arch.level_tokens[s], arch.level_tokens[-1]))
                self.fusion.append(nn.Conv3d(arch.dims[s], dl, kernel_size=k, stride=k))
        dd = arch.decoder_embed_dim
        self.decoder_embed = nn.Linear(dl, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        self.decoder_pos = nn.Parameter(torch.zeros(arch.n_units * math.prod(arch.level_tokens[-1]), dd))
        self.decoder_blocks = nn.Sequential(
            *[
                Block(dd, dd, arch.decoder_num_heads, arch.mlp_ratio, None, within_units=False)
                for _ in range(arch.decoder_depth)
            ]
        )
        self.decoder_norm = nn.LayerNorm(dd)
        self.pred = nn.Linear(dd, arch.unit_pixels // math.prod(arch.level_tokens[-1]))
        self._init()

    def _init(self) -> None:
        names = ("pos_t", "pos_h", "pos_w", "pos_embed", "pos_hw", "mask_token", "decoder_pos")
        for p in [getattr(self, n) for n in names if hasattr(self, n)]:
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------ layout helpers
    def to_units(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Tt, Ht, Wt, D)`` token grid -> ``(B, U, mt, mh, mw, D)`` mask units (row-major units)."""
        B, Tt, _, _, D = x.shape
        (_, uh, uw), (mt, mh, mw) = self.arch.units, self.arch.mask_unit
        ut = Tt // mt
        x = x.reshape(B, ut, mt, uh, mh, uw, mw, D).permute(0, 1, 3, 5, 2, 4, 6, 7)
        return x.reshape(B, ut * uh * uw, mt, mh, mw, D)

    def from_units(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, U, t, h, w, D)`` (all units) -> ``(B, Ut*t, Uh*h, Uw*w, D)`` token grid."""
        B, U, t, h, w, D = x.shape
        _, uh, uw = self.arch.units
        ut = U // (uh * uw)
        x = x.reshape(B, ut, uh, uw, t, h, w, D).permute(0, 1, 4, 2, 5, 3, 6, 7)
        return x.reshape(B, ut * t, uh * h, uw * w, D)

    def pixels_per_unit(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, T, H, W)`` -> ``(B, U, patches_per_unit, patch_pixels)`` (the decoder's targets)."""
        B = x.shape[0]
        (ut, uh, uw), (mt, mh, mw), (pt, ph, pw) = self.arch.units, self.arch.mask_unit, self.arch.patch_kernel
        x = x.reshape(B, ut, mt, pt, uh, mh, ph, uw, mw, pw)
        x = x.permute(0, 1, 4, 7, 2, 5, 8, 3, 6, 9)
        return x.reshape(B, ut * uh * uw, mt * mh * mw, pt * ph * pw)

    def random_keep(
        self, batch: int, generator: torch.Generator | None = None, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Choose the kept mask units: ``(keep_idx (B, n_keep) sorted, mask (B, U) True = masked)``."""
        U, K = self.arch.n_units, self.arch.n_keep
        noise = torch.rand(batch, U, generator=generator, device="cpu").to(device or "cpu")
        keep = torch.argsort(noise, dim=1)[:, :K].sort(dim=1).values
        mask = torch.ones(batch, U, dtype=torch.bool, device=keep.device)
        mask.scatter_(1, keep, False)
        return keep, mask

    # ------------------------------------------------------------------ encoder
    def encode(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Encoder levels, each ``(B, K, t_l, h_l, w_l, D_l)`` (K = kept units, or all when ``keep`` is None)."""
        z = self.patch_embed(x).permute(0, 2, 3, 4, 1)
        if self.arch.pos_embed == "separable":  # the original expression: ethoflow checkpoints give the same bits
            z = (
                z
                + self.time_pos(z.shape[1])[None, :, None, None]
                + self.pos_h[None, None, :, None]
                + self.pos_w[None, None, None, :]
            )
        else:
            z = z + self.positions(z.shape[1])[None]
        z = self.to_units(z)
        if keep is not None:
            idx = keep[:, :, None, None, None, None].expand(-1, -1, *z.shape[2:])
            z = torch.gather(z, 1, idx)
        levels = []
        for s, stage in enumerate(self.stages):
            z = stage(z)
            levels.append(self.norm(z) if s == len(self.stages) - 1 and self.arch.final_norm else z)
        return levels

    @staticmethod
    def _interp_time(p: torch.Tensor, n_tokens: int) -> torch.Tensor:
        """Linear interpolation along the first axis of ``p`` to ``n_tokens`` (``align_corners``)."""
        if n_tokens == p.shape[0]:
            return p
        flat = p.reshape(p.shape[0], -1)
        out = F.interpolate(flat.T[None], size=n_tokens, mode="linear", align_corners=True)[0].T
        return out.reshape(n_tokens, *p.shape[1:])

    def time_pos(self, n_tokens: int) -> torch.Tensor:
        """Time positional embedding for ``n_tokens`` tokens (linearly interpolated from the trained
        length when a window of another length is embedded, as ViT/Hiera do at other resolutions)."""
        return self._interp_time(self.pos_t, n_tokens)

    def positions(self, n_tokens: int) -> torch.Tensor:
        """Positional embedding of the token grid ``(n_tokens, Ht, Wt, D)`` (time interpolated as :meth:`time_pos`)."""
        if self.arch.pos_embed == "separable":
            return self.time_pos(n_tokens)[:, None, None] + self.pos_h[None, :, None] + self.pos_w[None, None, :]
        if self.arch.pos_embed == "full":
            return self._interp_time(self.pos_embed, n_tokens)
        return self.time_pos(n_tokens)[:, None, None] + self.pos_hw[None]

    def check_window(self, minutes: int) -> None:
        """A window must be a whole number of mask units long (``mask_unit[0] * patch_kernel[0]`` minutes).

        Raises:
            ParamsError: naming the window and the unit length.
        """
        span = self.arch.mask_unit[0] * self.arch.patch_kernel[0]
        if minutes <= 0 or minutes % span:
            raise ParamsError(
                f"window of {minutes} minutes is not a multiple of the model's mask unit span "
                f"({span} minutes = product of q_strides x patch_kernel along time)"
            )

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-level embeddings of full windows: list of ``(B, T_level, D_level)``.

        ``x``: ``(B, 1, T', H, W)``; ``T'`` is the trained ``T`` or any multiple of the mask-unit span
        (longer context: global-attention stages see the whole window; time positions interpolated).
        ``T_level = T' / minutes_per_token[level]``; spatial tokens (H, W) of a level are averaged.
        """
        return [g.mean(dim=(2, 3)) for g in self.level_grids(x)]

    @torch.no_grad()
    def level_grids(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-level token grids of full windows: list of ``(B, T_level, H_level, W_level, D_out)``, after
        the level projections when the model has them (BehaveMAE's ``return_intermediates`` outputs)."""
        out = []
        for s, z in enumerate(self.encode(x)):
            g = self.from_units(z)
            out.append(self.level_proj[s](g) if self.arch.level_proj_dims is not None else g)
        return out

    @property
    def level_dims(self) -> tuple[int, ...]:
        """Width of each level's embedding (projection widths when the model has them)."""
        return tuple(self.arch.level_proj_dims) if self.arch.level_proj_dims is not None else tuple(self.arch.dims)

    # ------------------------------------------------------------------ decoder + loss
    def decode(self, levels: list[torch.Tensor], keep: torch.Tensor) -> torch.Tensor:
        """Predict pixels of every unit: ``(B, U, unit_pixels)``."""
        z = levels[-1]
        if self.arch.decoder == "multi":
            for s, conv in enumerate(self.fusion):
                lv = levels[s]
                B, K, t, h, w, D = lv.shape
                f = conv(lv.reshape(B * K, t, h, w, D).permute(0, 4, 1, 2, 3))
                z = z + f.permute(0, 2, 3, 4, 1).reshape(z.shape)
        B, K = z.shape[:2]
        per_unit = math.prod(self.arch.level_tokens[-1])
        z = self.decoder_embed(z.reshape(B, K, per_unit, -1))
        full = (
            self.mask_token.expand(B, self.arch.n_units * per_unit, -1)
            .reshape(B, self.arch.n_units, per_unit, -1)
            .clone()
        )
        full.scatter_(1, keep[:, :, None, None].expand(-1, -1, per_unit, z.shape[-1]), z)
        y = full.reshape(B, self.arch.n_units * per_unit, -1) + self.decoder_pos
        y = self.decoder_blocks(y[:, :, None, None, None, :]).reshape(y.shape) if len(self.decoder_blocks) else y
        y = self.pred(self.decoder_norm(y))
        return y.reshape(B, self.arch.n_units, -1)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None, generator: torch.Generator | None = None):
        """MAE training step: ``(loss, pred (B, U, P), mask (B, U))``; see class docstring."""
        keep, mask = self.random_keep(x.shape[0], generator, x.device)
        pred = self.decode(self.encode(x, keep), keep)
        target = self.pixels_per_unit(x)
        if self.arch.norm_pix_loss:
            mean = target.mean(-1, keepdim=True)
            var = target.var(-1, keepdim=True, unbiased=False)
            # rsqrt: ATen's own kernel; torch's sqrt goes through MKL's vector math, whose last bits
            # follow the CPU vendor (see ethoflow.core.training.adam)
            target = (target - mean) * torch.rsqrt(var + 1e-6)
        target = target.reshape(pred.shape)
        w = self.pixels_per_unit(valid.to(x.dtype)).reshape(pred.shape) if valid is not None else torch.ones_like(pred)
        w = w * mask[:, :, None].to(pred.dtype)
        err = (pred.float() - target.float()) ** 2
        loss = (err * w).sum() / w.sum().clamp_min(1.0)
        return loss, pred, mask


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"total", "encoder", "decoder"}`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    dec_names = ("fusion", "decoder_embed", "mask_token", "decoder_pos", "decoder_blocks", "decoder_norm", "pred")
    dec = sum(p.numel() for n, p in model.named_parameters() if n.split(".")[0] in dec_names)
    return {"total": int(total), "encoder": int(total - dec), "decoder": int(dec)}


def count_flops(model: HBehaveMAE, device: str = "meta") -> dict[str, int]:
    """FLOPs of one window: ``encoder_full`` (all units, as at extraction) and ``train_step_forward``
    (masked encoder + decoder), counted by ``torch.utils.flop_counter`` (a multiply-add = 2 FLOPs)."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from torch.utils.flop_counter import FlopCounterMode

    T, H, W = model.arch.input_size
    x = torch.zeros(1, 1, T, H, W, device=device)
    out = {}
    with torch.no_grad():
        with FlopCounterMode(display=False) as fc:
            model.encode(x)
        out["encoder_full"] = int(fc.get_total_flops())
        keep = torch.arange(model.arch.n_keep, device=device)[None]
        with FlopCounterMode(display=False) as fc:
            model.decode(model.encode(x, keep), keep)
        out["train_step_forward"] = int(fc.get_total_flops())
    return out


def build_model(params: ModelParams | dict[str, Any] | Architecture, device: str | torch.device = "cpu") -> HBehaveMAE:
    """Validate ``p`` and build the model on ``device`` (``"meta"`` builds without allocating)."""
    arch = params if isinstance(params, Architecture) else build_architecture(params)
    with torch.device(device):
        return HBehaveMAE(arch)


def describe(model: HBehaveMAE, flops: bool = True) -> dict[str, Any]:
    """Parameter counts, FLOPs per window and per-level token sizes (for logs and metrics)."""
    a = model.arch
    info: dict[str, Any] = {"parameters": count_parameters(model), "levels": []}
    for s in range(a.n_levels):
        info["levels"].append(
            {
                "level": s + 1,
                "dim": a.dims[s],
                "heads": a.heads[s],
                "tokens": list(a.level_grid[s]),
                "minutes_per_token": a.minutes_per_token[s],
                "mask_unit_attn": a.mask_unit_attn[s],
            }
        )
    info["mask_units"] = a.n_units
    info["kept_units"] = a.n_keep
    if flops:
        info["flops_per_window"] = count_flops(model, device=next(model.parameters()).device.type)
    return info
