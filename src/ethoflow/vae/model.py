"""A compact VAE for behavioural / neural time series (Kingma & Welling, 2014, "Auto-Encoding
Variational Bayes"), written in plain PyTorch.

Shapes (B: batch, T: ``seq_len`` time steps, C: ``channels``, H: ``hidden_dim``, Z: ``latent_dim``)::

    x, mask (B, T, C) --encoder--> mu, logvar (B, Z) --reparameterise--> z (B, Z) --decoder--> x_hat (B, T, C)

The encoder sees ``[x * mask, mask]`` (2C features per step), so missing samples are zeros that it can
tell apart from real zeros. Encoder backbones:

- ``conv``: residual 1-D convolutions (kernel 5) over time, masked mean pooling;
- ``gru``: a ``num_layers`` GRU, last hidden state of the top layer;
- ``transformer``: ``num_layers`` pre-norm self-attention blocks (Vaswani et al., 2017), masked mean
  pooling; time steps without any valid channel are excluded from attention.

``positional_encoding`` adds sinusoidal time encodings (Vaswani et al., 2017) to the encoder input.
The decoder maps ``z`` to one vector per time step (a linear map plus a sinusoidal time code, always
on: the decoder needs to know which step it writes), runs the same kind of backbone and projects to
C channels.

With ``nuisance_dims = n > 0`` the latent is split into ``Z - n`` biological dimensions (``z[:, :Z-n]``)
and ``n`` nuisance dimensions (``z[:, Z-n:]``), each with its own encoder head; vae_embed names them
``z_mu_b_XX`` and ``z_mu_n_XX``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn

EncoderKind = Literal["conv", "gru", "transformer"]


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of :class:`TimeSeriesVAE`.

    Attributes:
        seq_len: T, time steps per snip (minutes for activity snips).
        channels: C, channels per time step (electrodes / tubes).
        latent_dim: Z, total latent dimensions (biological + nuisance).
        hidden_dim: H, width of the backbone.
        num_layers: backbone depth (conv blocks, GRU layers or transformer blocks), encoder and decoder.
        dropout: dropout probability inside the backbone.
        encoder: ``conv``, ``gru`` or ``transformer`` (the decoder uses the same kind).
        positional_encoding: add sinusoidal time encodings to the encoder input.
        num_heads: attention heads (``transformer`` only; must divide ``hidden_dim``).
        nuisance_dims: n, trailing latent dimensions reserved for nuisance variation (0: none).

    Raises:
        ValueError: a value is out of range or inconsistent (message names the field).
    """

    seq_len: int
    channels: int
    latent_dim: int = 8
    hidden_dim: int = 32
    num_layers: int = 2
    dropout: float = 0.0
    encoder: EncoderKind = "conv"
    positional_encoding: bool = False
    num_heads: int = 2
    nuisance_dims: int = 0

    def __post_init__(self) -> None:
        for name in ("seq_len", "channels", "latent_dim", "hidden_dim", "num_layers", "num_heads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VAEConfig.{name} must be >= 1 (got {getattr(self, name)})")
        if self.encoder not in ("conv", "gru", "transformer"):
            raise ValueError(f"VAEConfig.encoder must be conv, gru or transformer (got {self.encoder!r})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"VAEConfig.dropout must be in [0, 1) (got {self.dropout})")
        if not 0 <= self.nuisance_dims < self.latent_dim:
            raise ValueError(
                f"VAEConfig.nuisance_dims must be in [0, latent_dim) (got {self.nuisance_dims} "
                f"with latent_dim {self.latent_dim}): at least one biological dimension is needed"
            )
        if self.encoder == "transformer" and self.hidden_dim % self.num_heads:
            raise ValueError(f"VAEConfig.num_heads ({self.num_heads}) must divide hidden_dim ({self.hidden_dim})")

    @property
    def bio_dims(self) -> int:
        """Number of biological latent dimensions (``latent_dim - nuisance_dims``)."""
        return self.latent_dim - self.nuisance_dims

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAEConfig:
        return cls(**data)


def sinusoidal_encoding(length: int, dim: int) -> torch.Tensor:
    """Sinusoidal position codes (Vaswani et al., 2017): float32 tensor (length, dim)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * i / max(dim, 1))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class _ConvBlock(nn.Module):
    def __init__(self, h: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(h)
        self.conv = nn.Conv1d(h, h, kernel_size=5, padding=2)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        y = self.conv(self.norm(x).transpose(1, 2)).transpose(1, 2)
        return x + self.drop(self.act(y))


class _Backbone(nn.Module):
    """Sequence-to-sequence block stack: (B, T, H) -> (B, T, H); ``step_mask`` (B, T) bool."""

    def __init__(self, kind: str, h: int, layers: int, dropout: float, heads: int):
        super().__init__()
        self.kind = kind
        if kind == "conv":
            self.net = nn.ModuleList(_ConvBlock(h, dropout) for _ in range(layers))
        elif kind == "gru":
            self.net = nn.GRU(h, h, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        else:
            layer = nn.TransformerEncoderLayer(
                h, heads, dim_feedforward=2 * h, dropout=dropout, batch_first=True, norm_first=True
            )
            self.net = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(h)

    def forward(
        self, x: torch.Tensor, step_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns (sequence (B, T, H), last GRU hidden state (B, H) or None)."""
        last = None
        if self.kind == "conv":
            for block in self.net:
                x = block(x)
        elif self.kind == "gru":
            x, hn = self.net(x)
            last = hn[-1]
        else:
            pad = None
            if step_mask is not None:
                # Steps with no valid channel are keys nobody attends to; keep at least one key per row.
                pad = ~step_mask
                pad = pad & pad.sum(1, keepdim=True).lt(pad.shape[1])
            x = self.net(x, src_key_padding_mask=pad)
        return self.norm(x), last


def _masked_mean(x: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
    """Mean over time of (B, T, H) using (B, T) bool weights; all-missing rows fall back to the plain mean."""
    w = step_mask.to(x.dtype)
    none = w.sum(1, keepdim=True) == 0
    w = torch.where(none, torch.ones_like(w), w)
    return (x * w[..., None]).sum(1) / w.sum(1, keepdim=True)


class Encoder(nn.Module):
    """(x (B, T, C), mask (B, T, C)) -> (mu (B, Z), logvar (B, Z))."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        h = cfg.hidden_dim
        self.cfg = cfg
        self.inp = nn.Linear(2 * cfg.channels, h)
        if cfg.positional_encoding:
            self.register_buffer("pe", sinusoidal_encoding(cfg.seq_len, h), persistent=False)
        else:
            self.pe = None
        self.backbone = _Backbone(cfg.encoder, h, cfg.num_layers, cfg.dropout, cfg.num_heads)
        self.head_bio = nn.Linear(h, 2 * cfg.bio_dims)
        self.head_nuis = nn.Linear(h, 2 * cfg.nuisance_dims) if cfg.nuisance_dims else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if mask is None:
            mask = torch.ones_like(x, dtype=torch.bool)
        m = mask.to(x.dtype)
        h = self.inp(torch.cat([x * m, m], dim=-1))
        if self.pe is not None:
            h = h + self.pe[: h.shape[1]]
        step_mask = mask.any(-1)
        seq, last = self.backbone(h, step_mask)
        pooled = last if last is not None else _masked_mean(seq, step_mask)
        heads = [self.head_bio(pooled)]
        if self.head_nuis is not None:
            heads.append(self.head_nuis(pooled))
        mus = [p.chunk(2, dim=-1)[0] for p in heads]
        logvars = [p.chunk(2, dim=-1)[1] for p in heads]
        return torch.cat(mus, -1), torch.cat(logvars, -1).clamp(-20.0, 20.0)


class Decoder(nn.Module):
    """z (B, Z) -> x_hat (B, T, C)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        h = cfg.hidden_dim
        self.cfg = cfg
        self.inp = nn.Linear(cfg.latent_dim, h)
        self.register_buffer("pe", sinusoidal_encoding(cfg.seq_len, h), persistent=False)
        self.backbone = _Backbone(cfg.encoder, h, cfg.num_layers, cfg.dropout, cfg.num_heads)
        self.out = nn.Linear(h, cfg.channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inp(z)[:, None, :] + self.pe[None]
        seq, _ = self.backbone(h)
        return self.out(seq)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``; shapes (B, Z) -> (B, Z).

    The reparameterisation trick of Kingma & Welling (2014): gradients flow to ``mu`` and ``logvar``.
    """
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


class TimeSeriesVAE(nn.Module):
    """Encoder + reparameterisation + decoder (see the module docstring for shapes)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C) -> mu, logvar (B, Z)."""
        return self.encoder(x, mask)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, Z) -> (B, T, C)."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, sample: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(x_hat (B, T, C), mu (B, Z), logvar (B, Z))``.

        ``sample`` (default: ``self.training``) draws z by reparameterisation; otherwise z = mu.
        """
        if x.dim() != 3 or x.shape[1] != self.cfg.seq_len or x.shape[2] != self.cfg.channels:
            raise ValueError(f"expected input (B, {self.cfg.seq_len}, {self.cfg.channels}), got {tuple(x.shape)}")
        mu, logvar = self.encode(x, mask)
        do_sample = self.training if sample is None else sample
        z = reparameterize(mu, logvar) if do_sample else mu
        return self.decode(z), mu, logvar


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
