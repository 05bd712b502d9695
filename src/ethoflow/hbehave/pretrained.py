"""Checkpoints of the authors' BehaveMAE code (amathislab/BehaveMAE) for extraction with ethoflow.

A lab that trained hBehaveMAE with the authors' ``main_pretrain.py`` has a ``checkpoint-*.pth`` (saved by
their ``util.misc.save_model``: ``{'model': state_dict, 'optimizer', 'epoch', 'scaler', 'args'}``) and
the z-score statistics of its training data (``--stats_path``, a ``.npy``). This module reads both and
writes an ethoflow checkpoint (``architecture``, ``state_dict``, ``normalisation``) that
:func:`ethoflow.hbehave.extract.extract` uses like one of its own.

Their encoder (``GeneralizedHiera``) is the computation of :class:`~ethoflow.hbehave.model.HBehaveMAE`
with these settings (``Architecture`` fields; ethoflow's own models keep the defaults):

- stage widths ``init_embed_dim * 2**s`` and heads ``init_num_heads * 2**s`` (their ``dim_mul``,
  ``head_mul`` = 2); a level's embedding is ``projections[l]`` of the stage output (``level_proj_dims`` =
  their ``out_embed_dims``), with no LayerNorm (``final_norm=False``); LayerNorm eps 1e-6;
- positional embedding per token (``pos_embed``, ``full``) or temporal + spatial (``sep_pos_embed``,
  ``temporal_spatial``);
- a stage's first (pooling) block attends with the previous stage's scope (``pool_attn="previous"``);
- encoder only: the decoder's weights (``decoder_*``, ``multi_scale_fusion_heads``, ``encoder_norm``,
  ``mask_token``) are not used for extraction and are left out.

Names: ``patch_embed.proj`` -> ``patch_embed``; ``blocks.{i}`` -> ``stages.{s}.{j}`` (i-th block overall
= block j of stage s); ``.proj`` (residual projection) -> ``.res_proj``; ``mlp.fc1``/``mlp.fc2`` ->
``mlp.0``/``mlp.2``; ``projections.{l}`` -> ``level_proj.{l}``; ``pos_embed`` ``(1, N, D)`` -> ``(T, H, W,
D)``; ``pos_embed_temporal`` -> ``pos_t``; ``pos_embed_spatial`` -> ``pos_hw``. Every expected key must be
present with the expected shape, else :class:`~ethoflow.core.errors.InputError` names the file and the
first differing keys and shapes.

Why this module is long: one conversion, end to end: reading a BehaveMAE checkpoint, its config, the
key and shape mapping above and the check of every expected key belong to one audited table.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib
import io
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import load_torch, sha256_file
from ethoflow.core.logging import get_logger
from ethoflow.hbehave.params import ModelParams, PretrainedParams, parse_q_strides

log = get_logger(__name__)

#: architecture arguments read from params or the checkpoint's ``args``
ARCH_KEYS = (
    "input_size",
    "patch_kernel",
    "stages",
    "q_strides",
    "mask_unit_attn",
    "init_embed_dim",
    "init_num_heads",
    "out_embed_dims",
    "sep_pos_embed",
)
#: keys of the authors' pretraining model that extraction does not use (decoder, classifier head)
UNUSED_PREFIXES = ("decoder_", "multi_scale_fusion_heads.", "encoder_norm.", "mask_token", "norm.", "head.")
#: how many differing keys an error lists
SHOW = 4


# --------------------------------------------------------------------------- reading the checkpoint


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint file with ``torch.load(weights_only=True)`` (``argparse.Namespace`` allowed, as
    the authors' checkpoints hold their ``args``; nothing else is unpickled).

    Raises:
        InputError: missing, unreadable, or not a dict.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ck = load_torch(path, wrap_errors=False, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling error is a bad input file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({first})") from None
    if not isinstance(ck, dict):
        raise InputError(f"{path}: not a checkpoint (a {type(ck).__name__}, not a dict)")
    return ck


def checkpoint_format(ck: dict[str, Any]) -> str:
    """``"ethoflow"`` (``architecture`` + ``state_dict``), ``"behavemae"`` (``model`` or ``model_state``
    holding a state dict, as ``main_pretrain.py`` saves and ``main_test.py`` reads) or ``"unknown"``."""
    if "architecture" in ck and "state_dict" in ck:
        return "ethoflow"
    sd = ck.get("model", ck.get("model_state"))
    if isinstance(sd, dict) and sd and all(_is_tensor(v) for v in sd.values()):
        return "behavemae"
    return "unknown"


def _is_tensor(v) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


def behavemae_state(ck: dict[str, Any], path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state_dict, args as a dict or {})`` of an authors' checkpoint.

    Raises:
        InputError: the file is not one (the keys it has are named).
    """
    fmt = checkpoint_format(ck)
    if fmt != "behavemae":
        have = ", ".join(map(str, list(ck)[:8])) or "none"
        hint = " (an ethoflow checkpoint: it needs no hbehave.pretrained settings)" if fmt == "ethoflow" else ""
        raise InputError(f"{path}: not a BehaveMAE checkpoint: no 'model' state dict of tensors (keys: {have}){hint}")
    sd = ck.get("model", ck.get("model_state"))
    args = ck.get("args")
    args = vars(args) if isinstance(args, argparse.Namespace) else (dict(args) if isinstance(args, dict) else {})
    return sd, args


# --------------------------------------------------------------------------- architecture


def _norm_value(key: str, v):
    """Architecture values in one comparable form (lists of ints, q_strides as tuples)."""
    if v is None:
        return None
    if key == "q_strides":
        if isinstance(v, str):
            return [tuple(t) for t in parse_q_strides(v)]
        return [tuple(int(a) for a in t) for t in v]
    if key == "mask_unit_attn":
        return [bool(b) if not isinstance(b, str) else b.strip().lower() in ("1", "true", "t", "yes", "y") for b in v]
    if key in ("input_size", "patch_kernel", "stages", "out_embed_dims"):
        return [int(a) for a in (v.replace(",", " ").split() if isinstance(v, str) else v)]
    if key == "sep_pos_embed":
        return bool(v)
    return int(v)


def _show(key: str, v) -> str:
    if key == "q_strides" and v is not None:
        return '"' + ";".join(",".join(str(a) for a in t) for t in v) + '"'
    return str(v)


def resolve_arguments(
    params: PretrainedParams, args: dict[str, Any], state: dict[str, Any], path: str | os.PathLike
) -> dict[str, Any]:
    """Architecture arguments: ``hbehave.pretrained.architecture``, else the checkpoint's ``args``.

    ``sep_pos_embed`` left open everywhere is read from the state dict's keys.

    Raises:
        ParamsError: a value set in params differs from the checkpoint's args, or neither gives one.
    """
    out, conflicts, missing = {}, [], []
    for key in ARCH_KEYS:
        mine = _norm_value(key, getattr(params.architecture, key))
        theirs = _norm_value(key, args.get(key)) if key in args else None
        if mine is not None and theirs is not None and mine != theirs:
            conflicts.append(f"{key}: params {_show(key, mine)} vs checkpoint args {_show(key, theirs)}")
        value = mine if mine is not None else theirs
        if value is None and key == "sep_pos_embed":
            value = "pos_embed_temporal" in state
        if value is None:
            missing.append(key)
        out[key] = value
    if conflicts:
        raise ParamsError(
            f"{path}: hbehave.pretrained.architecture differs from the args the checkpoint was "
            f"saved with ({'; '.join(conflicts)}); fix the params or set the keys to null to use the checkpoint's"
        )
    if missing:
        raise ParamsError(
            f"{path}: the checkpoint has no saved args for {', '.join(missing)}; set "
            + ", ".join(f"hbehave.pretrained.architecture.{k}" for k in missing)
        )
    return out


def behavemae_architecture(arguments: dict[str, Any], where: str = "hbehave.pretrained.architecture"):
    """The :class:`~ethoflow.hbehave.model.Architecture` of the authors' encoder for these arguments.

    Raises:
        ParamsError: inconsistent arguments (lengths, divisibility; the key is named).
    """
    from ethoflow.hbehave.model import build_architecture

    n = len(arguments["stages"])
    if len(arguments["q_strides"]) != n - 1:
        raise ParamsError(
            f"{where}: q_strides has {len(arguments['q_strides'])} entries; stages has {n} stages, needs {n - 1}"
        )
    for key in ("mask_unit_attn", "out_embed_dims"):
        if len(arguments[key]) != n:
            raise ParamsError(f"{where}: {key} has {len(arguments[key])} entries, stages has {n}")
    dims, heads = [arguments["init_embed_dim"]], [arguments["init_num_heads"]]
    for _ in range(n - 1):  # GeneralizedHiera: dim_out = int(embed_dim * dim_mul), heads * head_mul (both 2)
        dims.append(int(dims[-1] * 2.0))
        heads.append(int(heads[-1] * 2.0))
    try:
        mp = ModelParams(
            input_size=arguments["input_size"],
            patch_kernel=arguments["patch_kernel"],
            stages=arguments["stages"],
            q_strides=";".join(",".join(str(v) for v in t) for t in arguments["q_strides"]),
            mask_unit_attn=arguments["mask_unit_attn"],
            init_embed_dim=dims[0],
            init_num_heads=heads[0],
            out_embed_dims=dims,
            out_num_heads=heads,
            decoder="single",
            decoder_embed_dim=dims[-1],
            decoder_num_heads=1,
        )
    except ValueError as exc:
        raise ParamsError(f"{where}: {exc}") from None
    arch = build_architecture(mp, where=where)
    return dataclasses.replace(
        arch,
        pos_embed="temporal_spatial" if arguments["sep_pos_embed"] else "full",
        level_proj_dims=tuple(int(d) for d in arguments["out_embed_dims"]),
        final_norm=False,
        pool_attn="previous",
        norm_eps=1e-6,
        encoder_only=True,
        decoder_embed_dim=1,
        decoder_depth=0,
        decoder_num_heads=1,
    )


# --------------------------------------------------------------------------- state-dict names


_BLOCK = re.compile(r"^stages\.(\d+)\.(\d+)\.(.+)$")
_SUB = {"res_proj": "proj", "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"}


def authors_name(ours: str, depths: tuple[int, ...]) -> str:
    """The authors' state-dict name of one of ours (module docstring)."""
    if ours.startswith("patch_embed."):
        return "patch_embed.proj." + ours.split(".", 1)[1]
    if ours in ("pos_embed",):
        return "pos_embed"
    if ours == "pos_t":
        return "pos_embed_temporal"
    if ours == "pos_hw":
        return "pos_embed_spatial"
    if ours.startswith("level_proj."):
        return "projections." + ours.split(".", 1)[1]
    m = _BLOCK.match(ours)
    if m:
        s, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        for a, b in _SUB.items():
            if rest.startswith(a + "."):
                rest = b + rest[len(a) :]
                break
        return f"blocks.{sum(depths[:s]) + j}.{rest}"
    return ours


def authors_shape(ours: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The authors' tensor shape of one of ours (positional embeddings carry a batch axis, flattened)."""
    if ours == "pos_embed":
        return (1, math.prod(shape[:-1]), shape[-1])
    if ours == "pos_t":
        return (1, *shape)
    if ours == "pos_hw":
        return (1, shape[0] * shape[1], shape[2])
    return tuple(shape)


def convert_state(state: dict[str, Any], arch, path: str | os.PathLike) -> tuple[dict[str, Any], list[str]]:
    """Map the authors' state dict onto :class:`~ethoflow.hbehave.model.HBehaveMAE` (``arch``).

    Returns:
        ``(our state dict (float32), authors' keys left out as unused)``.

    Raises:
        InputError: one line naming ``path`` with the counts and the first differing keys and shapes
            (missing keys, keys of another shape, keys this architecture does not have).
    """
    import torch

    from ethoflow.hbehave.model import build_model

    model = build_model(arch, device="meta")
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    names = {k: authors_name(k, arch.depths) for k in expected}
    unused = sorted(k for k in state if k.startswith(UNUSED_PREFIXES))
    given = {k: tuple(v.shape) for k, v in state.items() if k not in unused}
    missing = [names[k] for k in expected if names[k] not in given]
    wrong = [
        f"{names[k]} {list(given[names[k]])} (expected {list(authors_shape(k, s))})"
        for k, s in expected.items()
        if names[k] in given and given[names[k]] != authors_shape(k, s)
    ]
    extra = [f"{k} {list(s)}" for k, s in given.items() if k not in set(names.values())]
    if missing or wrong or extra:
        parts = []
        if wrong:
            parts.append(
                f"{len(wrong)} of another shape: {', '.join(wrong[:SHOW])}" + (" ..." if len(wrong) > SHOW else "")
            )
        if missing:
            parts.append(
                f"{len(missing)} missing: {', '.join(missing[:SHOW])}" + (" ..." if len(missing) > SHOW else "")
            )
        if extra:
            parts.append(
                f"{len(extra)} not in this architecture: {', '.join(extra[:SHOW])}"
                + (" ..." if len(extra) > SHOW else "")
            )
        raise InputError(
            f"{path}: checkpoint does not match hbehave.pretrained.architecture "
            f"({'; '.join(parts)}); check stages, init_embed_dim, init_num_heads, out_embed_dims, "
            "input_size, patch_kernel, q_strides, sep_pos_embed"
        )
    out = {k: state[names[k]].detach().to(torch.float32).reshape(s).clone() for k, s in expected.items()}
    return out, unused


# --------------------------------------------------------------------------- z-score statistics


class _NumpyOnly(pickle.Unpickler):
    """Unpickles numpy arrays, scalars and plain containers only (an ``np.save``'d dict of statistics)."""

    ALLOWED = (
        {("numpy", "ndarray"), ("numpy", "dtype")}
        | {
            (mod, name)
            for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
            for name in ("_reconstruct", "scalar")
        }
        | {(mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")}
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core") or module.startswith("numpy._core"):
            sub = module.split(".", 2)[2]
            for base in ("numpy._core", "numpy.core"):
                try:
                    return getattr(importlib.import_module(f"{base}.{sub}"), name)
                except (ImportError, AttributeError):
                    continue
        return getattr(np, name)


def _load_npy_safely(path: Path):
    """``np.load`` of a ``.npy``; an object array (a pickled dict) is read with :class:`_NumpyOnly`."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(f)
        else:
            np.lib.format.read_array_header_2_0(f)
        return _NumpyOnly(io.BytesIO(f.read()), encoding="latin1").load()


def load_stats(path: str | os.PathLike, n_channels: int | None = None) -> dict[str, Any]:
    """Z-score statistics ``{"mean", "std"}`` (floats, or lists of one per channel) from ``path``.

    Accepts ``np.save(path, {'mean': m, 'std': s})`` (how the hBehaveMAE training code for Digital Ventilated Cage data saves
    ``--stats_path``; read without running pickled code), an array ``[mean, std]`` or
    ``[[mean per channel], [std per channel]]``, or an ``.npz`` with ``mean`` and ``std``.

    Raises:
        InputError: missing or unreadable file, another layout, non-finite or non-positive std, or a
            per-channel length other than ``n_channels``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: z-score stats file not found (hbehave.pretrained.stats)")
    try:
        obj = _load_npy_safely(path)
    except Exception as exc:  # noqa: BLE001 - a bad file of any kind
        raise InputError(f"{path}: unreadable z-score stats file ({type(exc).__name__}: {exc})") from None
    mean = std = None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            if "mean" in obj.files and "std" in obj.files:
                mean, std = obj["mean"], obj["std"]
    elif isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == () and isinstance(obj.item(), dict):
        d = obj.item()
        if "mean" in d and "std" in d:
            mean, std = d["mean"], d["std"]
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "fiu" and obj.shape[:1] == (2,) and obj.ndim <= 2:
        mean, std = obj[0], obj[1]
    if mean is None:
        what = (
            f"array of shape {obj.shape} and dtype {obj.dtype}" if isinstance(obj, np.ndarray) else type(obj).__name__
        )
        raise InputError(
            f"{path}: z-score stats must be {{'mean': ..., 'std': ...}} (np.save of a dict), "
            f"[mean, std], [[means], [stds]] or an .npz with mean and std; found {what}"
        )
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if mean.shape != std.shape:
        raise InputError(f"{path}: mean has {mean.size} values, std {std.size}")
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise InputError(
            f"{path}: z-score stats must be finite with std > 0 (mean {mean.tolist()}, std {std.tolist()})"
        )
    if mean.size > 1 and n_channels is not None and mean.size != n_channels:
        raise InputError(f"{path}: {mean.size} per-channel statistics but the store has {n_channels} channels")
    as_value = (lambda v: float(v[0])) if mean.size == 1 else (lambda v: [float(x) for x in v])
    return {"mean": as_value(mean), "std": as_value(std)}


# --------------------------------------------------------------------------- conversion


def convert_checkpoint(
    path: str | os.PathLike,
    params: PretrainedParams,
    out: str | os.PathLike,
    n_channels: int | None = None,
    ck: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write an ethoflow checkpoint ``out`` from the authors' checkpoint ``path`` and ``params.stats``.

    ``ck``: the checkpoint already read with :func:`read_checkpoint` (else it is read here).

    Returns:
        Provenance: ``format``, ``checkpoint`` and ``checkpoint_sha256``, ``stats`` and
        ``stats_sha256``, ``normalise``, the resolved ``arguments``, ``unused_keys``.

    Raises:
        InputError: not a BehaveMAE checkpoint, keys/shapes that do not match, stats problems, store
            channels other than ``H * W`` of ``input_size``.
        ParamsError: architecture arguments missing or contradicting the checkpoint's args; stats not
            set while ``normalise`` is true.
    """
    from ethoflow.hbehave.train import save_checkpoint

    path = Path(path)
    ck = read_checkpoint(path) if ck is None else ck
    state, args = behavemae_state(ck, path)
    a = resolve_arguments(params, args, state, path)
    arch = behavemae_architecture(a)
    _, H, W = arch.input_size
    if n_channels is not None and H * W != n_channels:
        raise InputError(
            f"{path}: the model reads {H}*{W} = {H * W} channels per minute (input_size {list(arch.input_size)}) "
            f"but the store has {n_channels}"
        )
    sd, unused = convert_state(state, arch, path)
    if params.normalise:
        if not params.stats:
            raise ParamsError(
                f"hbehave.pretrained.stats: {path} is a BehaveMAE checkpoint; set stats to the z-score "
                "stats .npy it was trained with (--stats_path), or normalise: false"
            )
        norm = {"mode": "pretrained_stats", **load_stats(params.stats, n_channels), "source": str(params.stats)}
    else:
        norm = {"mode": "none", "mean": 0.0, "std": 1.0}
    info = {
        "format": "behavemae",
        "checkpoint": str(path),
        "checkpoint_sha256": sha256_file(path),
        "stats": str(params.stats) if params.normalise else None,
        "stats_sha256": sha256_file(Path(params.stats)) if params.normalise else None,
        "normalise": params.normalise,
        "arguments": {k: (_show(k, v).strip('"') if k == "q_strides" else v) for k, v in a.items()},
        "epoch": ck.get("epoch") if isinstance(ck.get("epoch"), int) else None,
        "unused_keys": len(unused),
    }
    save_checkpoint(
        Path(out), {"architecture": arch.to_dict(), "state_dict": sd, "normalisation": norm, "pretrained": info}
    )
    log.info(
        "BehaveMAE checkpoint %s: %d tensors mapped, %d decoder tensors not used for extraction; levels %s; %s",
        path,
        len(sd),
        len(unused),
        list(arch.level_proj_dims),
        f"z-scored with {params.stats}" if params.normalise else "not normalised",
    )
    return info


def resolve_model(
    path: str | os.PathLike,
    params: PretrainedParams,
    work_dir: str | os.PathLike,
    n_channels: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """The checkpoint extraction should load for ``hbehave.extract.model``.

    An ethoflow checkpoint is used as it is; an authors' BehaveMAE checkpoint is converted (with
    ``params``) into ``work_dir/pretrained-<hash>.pt`` (named by the checkpoint's, the stats' and the
    params' contents, so concurrent aggregations share one file; ``work_dir`` must be readable by Slurm
    array tasks).

    Returns:
        ``(path to load, provenance dict)``; the provenance has ``format`` ``ethoflow`` or ``behavemae``.

    Raises:
        InputError / ParamsError: see :func:`convert_checkpoint`; a file that is neither format.
    """
    path = Path(path)
    ck = read_checkpoint(path)
    fmt = checkpoint_format(ck)
    if fmt == "ethoflow":
        return str(path), {"format": "ethoflow", "checkpoint": str(path)}
    if fmt != "behavemae":
        have = ", ".join(map(str, list(ck)[:8])) or "none"
        raise InputError(
            f"{path}: neither an ethoflow checkpoint (architecture, state_dict) nor a BehaveMAE one "
            f"(model); keys: {have}"
        )
    key = hashlib.sha256()
    key.update(sha256_file(path).encode())
    if params.normalise and params.stats and Path(params.stats).is_file():
        key.update(sha256_file(Path(params.stats)).encode())
    key.update(params.model_dump_json().encode())
    key.update(str(n_channels).encode())
    out = Path(work_dir) / f"pretrained-{key.hexdigest()[:16]}.pt"
    info = convert_checkpoint(path, params, out, n_channels, ck=ck)
    return str(out), info
