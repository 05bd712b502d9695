"""Atomic writes and stable JSON/YAML.

Every file a stage writes goes through :func:`atomic_path` (or the helpers built on it): the data is
written to a temporary file in the destination folder and renamed over the target, so a killed stage
never leaves a half-written output. JSON and YAML are written with sorted keys and with numpy and
pandas scalars converted to plain Python types, so the same data always gives the same bytes.

Why this module is long: every write ethoflow makes (JSON, YAML, Parquet, bytes, torch files, output
sets) is built on :func:`atomic_path` and shares one table of OS error causes; together they are the
one place that says how a file is written.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as _dt
import errno
import hashlib
import io
import json
import math
import os
import pickle
import shutil
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ethoflow.core.errors import InputError, OutputError, OverwriteError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The temporary name is deterministic (``.<stem>.partial<suffix>``): some writers embed the file
    name in the bytes they write (``torch.save`` names its zip archive after the file), so a random
    name would make identical content hash differently. It keeps ``path``'s suffix (or ``suffix``)
    so libraries that choose a format from the extension (pandas, matplotlib, numpy) still work.
    A partial file left by a killed run is replaced. On an exception the temporary file is removed
    and ``path`` is left untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, read-only location, ...: one line naming the folder
        raise output_error(exc, path.parent) from exc
    sfx = suffix if suffix is not None else "".join(path.suffixes)
    stem = path.name[: len(path.name) - len("".join(path.suffixes))] or path.name
    tmp_path = path.with_name(f".{stem}.partial{sfx}")
    if tmp_path.is_dir():
        shutil.rmtree(tmp_path)
    else:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp_path.is_dir():
                shutil.rmtree(tmp_path)
            else:
                tmp_path.unlink()
        raise


_OS_CAUSES = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a file is in the way where a folder is needed",
    errno.EISDIR: "a folder is in the way where a file is needed",
    errno.ENOENT: "parent folder missing",
}


def output_error(exc: OSError, path: str | os.PathLike) -> OutputError:
    """One-line :class:`OutputError` for an ``OSError`` met while writing ``path``.

    Names the path and the cause ("no space left on device", "permission denied", "read-only file
    system", "a file is in the way where a folder is needed", ...); other errno values keep the OS's
    own text. Use as ``except OSError as exc: raise output_error(exc, path) from exc``.
    """
    cause = _OS_CAUSES.get(exc.errno or -1) or (exc.strerror or type(exc).__name__)
    if isinstance(exc, FileExistsError):  # mkdir met a file where a folder is needed
        cause = _OS_CAUSES[errno.ENOTDIR]
    return OutputError(f"{path}: cannot write: {cause}")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _partial_name(path: Path, suffix: str | None = None) -> Path:
    sfx = suffix if suffix is not None else "".join(path.suffixes)
    stem = path.name[: len(path.name) - len("".join(path.suffixes))] or path.name
    return path.with_name(f".{stem}.partial{sfx}")


@contextlib.contextmanager
def output_set(paths: Sequence[str | os.PathLike]) -> Iterator[list[Path]]:
    """All-or-nothing writing of several output files (and/or folders).

    Yields one temporary sibling path per target (``.<stem>.partial<suffix>``, deterministic, same
    suffix so format-by-extension writers work). The caller writes every temporary path; only when
    the ``with`` block completes are they renamed over their targets, one ``os.replace`` each, in
    the order given. An exception or a kill inside the block (disk full, ``KeyboardInterrupt``, a
    bug) leaves every previous target untouched and removes the temporaries; a kill -9 leaves at
    most hidden ``.partial`` files, which the next run replaces. The renames themselves take
    microseconds: a kill between two of them is the one window in which old and new can mix; use
    :func:`atomic_dir` when the whole set lives in one folder and that window matters.

    A folder target is swapped the same way (an existing folder is replaced as a whole).

    Raises:
        OutputError: an ``OSError`` while creating folders or renaming (no space, permission,
            read-only, file/folder in the way), naming the path and the cause.
    """
    targets = [Path(p) for p in paths]
    if len(set(targets)) != len(targets):
        raise ValueError(f"output_set: duplicate targets in {[str(t) for t in targets]}")
    temps = []
    for t in targets:
        try:
            t.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(exc, t.parent) from exc
        tmp = _partial_name(t)
        _remove(tmp)
        temps.append(tmp)
    try:
        yield temps
        missing = [str(t) for t, tmp in zip(targets, temps) if not tmp.exists()]
        if missing:
            raise RuntimeError(f"output_set: the block did not write {missing}")
        for t, tmp in zip(targets, temps):
            if tmp.is_dir() and t.exists():
                old = t.with_name(f".{t.name}.old")
                _remove(old)
                os.replace(t, old)
                os.replace(tmp, t)
                _remove(old)
            else:
                os.replace(tmp, t)
    except OSError as exc:
        for tmp in temps:
            _remove(tmp)
        named = {str(tmp): t for tmp, t in zip(temps, targets)}
        raise output_error(exc, named.get(str(exc.filename), exc.filename or targets[0])) from exc
    except BaseException:
        for tmp in temps:
            _remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Write a whole output folder all-or-nothing.

    Yields an empty temporary sibling folder (``.<name>.partial``); when the block completes the
    previous folder (if any) is moved aside to ``.<name>.old``, the new one renamed into place and
    the old one removed. A failure inside the block leaves the previous folder untouched. If a kill
    -9 lands between the two renames, the next call finds ``.<name>.old`` without ``<name>`` and
    restores it first, so a reader never sees a half-written folder under the real name.

    Raises:
        OutputError: an ``OSError`` while creating or renaming (no space, permission, read-only,
            file/folder in the way), naming the path and the cause.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    old = path.with_name(f".{path.name}.old")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if old.exists() and not path.exists():
            os.replace(old, path)  # a previous run was killed between its two renames
        _remove(old)
        _remove(tmp)
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: cannot write: a file is in the way where a folder is needed")
        tmp.mkdir()
    except OSError as exc:
        raise output_error(exc, path) from exc
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)
    except OSError as exc:
        _remove(tmp)
        raise output_error(exc, path) from exc
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename).

    Raises:
        OutputError: the system refuses the write (no space left, permission, read-only, a file in the
            way), naming ``path`` and the cause; ``path`` is left as it was.
    """
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        raise output_error(exc, path) from exc
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_plain(obj: Any) -> Any:
    """Convert numpy/pandas/pathlib/datetime values (recursively) into plain JSON/YAML types.

    numpy integers and floats become ``int``/``float``, arrays become lists, ``Path`` becomes ``str``,
    dates become ISO strings, tuples and sets become lists (sets sorted), mappings get ``str`` keys.
    Pydantic models are dumped with ``model_dump()``.
    """
    try:
        # local: keeps ethoflow.core.io importable without numpy
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        np = None  # type: ignore[assignment]
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if np is not None:
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.ndarray):
            return [to_plain(v) for v in obj.tolist()]
        if isinstance(obj, np.datetime64):
            return str(obj)
    if hasattr(obj, "model_dump"):
        return to_plain(obj.model_dump())
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(to_plain(v) for v in obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if hasattr(obj, "isoformat"):  # pandas Timestamp
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"cannot convert {type(obj).__name__} to a plain JSON/YAML value: {obj!r}")


def _json_safe(obj: Any) -> Any:
    """Replace NaN/inf floats with None (JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> str:
    """Stable JSON text: plain types, sorted keys, 2-space indent, NaN as null, trailing newline."""
    return json.dumps(_json_safe(to_plain(obj)), indent=2, sort_keys=True, allow_nan=False) + "\n"


def save_figure(fig: Any, path: str | os.PathLike, **savefig_kw: Any) -> Path:
    """Write a matplotlib figure to ``path`` atomically, then close it.

    PNG files get no ``Software`` tag (it names the matplotlib version, so the same plot from
    another install would hash differently in DVC). ``savefig_kw`` go to ``Figure.savefig``
    (``dpi``, ``format``, ...). Returns ``path``.
    """
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, metadata={"Software": None}, **savefig_kw)
    plt.close(fig)
    return path


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as stable JSON (see :func:`dumps_json`) atomically."""
    return atomic_write_text(path, dumps_json(obj))


def flatten_metrics(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested metrics dict as ``{"a.b.c": value}`` (dotted keys, as ``dvc metrics show`` names them)."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten_metrics(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def write_metrics(path: str | os.PathLike, metrics: dict[str, Any]) -> Path:
    """Write a pipeline's headline metrics (``metrics/<pipeline>.json``) for ``dvc metrics diff``.

    Headline metrics are committed to git (``cache: false`` in dvc.yaml), so a reviewer's fresh clone
    can diff them without a DVC cache. They hold numbers only: a nested dict whose leaves are ints or
    finite floats (floats rounded to 6 significant digits, so the file is small and a rerun on the same
    machine rewrites it byte-identically); strings, paths and shapes belong in the stage's plain outs.

    Raises:
        ValueError: a leaf is not a number (the dotted key is named).
    """

    def clean(obj: Any, key: str) -> Any:
        if isinstance(obj, dict):
            return {str(k): clean(v, f"{key}.{k}" if key else str(k)) for k, v in obj.items()}
        if isinstance(obj, bool) or not isinstance(obj, (int, float)):
            raise ValueError(f"{path}: metrics key {key!r} is {obj!r}; headline metrics hold numbers only")
        if isinstance(obj, float):
            if not math.isfinite(obj):
                raise ValueError(f"{path}: metrics key {key!r} is {obj}; headline metrics must be finite")
            return float(f"{obj:.6g}")
        return int(obj)

    return write_json(path, clean(metrics, ""))


def write_live_curves(
    live_dir: str | os.PathLike,
    metrics: list[str],
    out_csv: str | os.PathLike,
    splits: tuple[str, ...] = ("train", "val"),
) -> Path:
    """Join DVCLive's per-split curves into one long-format CSV for a DVC plot that overlays the splits.

    Reads ``<live_dir>/plots/metrics/<split>/<metric>.tsv`` (DVCLive's layout for a metric logged as
    ``<split>/<metric>``) and writes ``series`` (the split), ``step`` and one column per metric; a split
    with no curves is left out. A single file out (not a file inside DVCLive's folder) is what a top-level
    DVC plot can read in a clone whose cache lacks that folder.

    Raises:
        InputError: none of the curves exists (DVCLive wrote nothing under ``live_dir``).
    """
    # local: keeps ethoflow.core.io importable without pandas
    import pandas as pd

    frames = []
    for split in splits:
        cols = []
        for name in metrics:
            tsv = Path(live_dir) / "plots" / "metrics" / split / f"{name}.tsv"
            if tsv.exists():
                cols.append(pd.read_csv(tsv, sep="\t")[["step", name]].set_index("step"))
        if cols:
            frames.append(pd.concat(cols, axis=1).reset_index().assign(series=split))
    if not frames:
        raise InputError(f"{live_dir}: no DVCLive curves {metrics} under plots/metrics/")
    df = pd.concat(frames, ignore_index=True)[["series", "step", *[m for m in metrics if any(m in f for f in frames)]]]
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g", lineterminator="\n")
    return Path(out_csv)


def write_yaml(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as YAML with sorted keys and plain types, atomically."""
    text = yaml.safe_dump(to_plain(obj), sort_keys=True, default_flow_style=False, allow_unicode=True)
    return atomic_write_text(path, text)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks (constant memory for long recordings)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises :class:`InputError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def read_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file; a missing or malformed file raises :class:`InputError` naming it."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None


def check_overwrite(paths: list[str | os.PathLike] | str | os.PathLike, overwrite: bool) -> None:
    """Raise :class:`OverwriteError` if any of ``paths`` exists and ``overwrite`` is false.

    Use for outputs that are not DVC outs (files a user owns): they are never replaced silently.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not overwrite:
        raise OverwriteError("refusing to overwrite existing output(s) without overwrite=true: " + ", ".join(existing))


def save_torch(path: str | os.PathLike, obj: Any, *, records_named_after_file: bool = False) -> Path:
    """``torch.save`` of ``obj`` to ``path``, atomically; the same ``obj`` gives the same bytes on every run.

    The one recipe for writing a torch file (its reader: :func:`load_torch`). ``torch.save`` writes a zip
    whose records sit in a folder named after the file it writes to (``archive/`` for a buffer). By
    default ``obj`` is saved to memory (records under ``archive/``), then written with
    :func:`atomic_write_bytes`. ``records_named_after_file``: saved straight to :func:`atomic_path`'s
    deterministic temporary file, so the records sit under ``.<stem>.partial/`` (the acoustic model
    files' layout, kept so that their bytes do not change).

    Raises:
        OutputError: (default mode) the system refuses the write, naming ``path`` and the cause.
        OSError: (``records_named_after_file``) the system refuses the write.
    """
    import torch  # local: torch takes seconds to import, and most callers of this module never need it

    if records_named_after_file:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
        return Path(path)
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_torch(
    path: str | os.PathLike,
    what: str = "checkpoint",
    hint: str = "re-create it (rerun the stage that writes it) or restore it",
    wrap_errors: bool = True,
    **load_kw: Any,
) -> Any:
    """``torch.load`` that turns a missing, empty, truncated or corrupt file into one line.

    Raises :class:`InputError` naming the file and the cause (torch's own messages, e.g.
    ``OSError: [Errno 22] Invalid argument`` or an ``UnpicklingError`` traceback, name no file).
    ``what`` names the kind of file in the message ("VAE model file", "resume checkpoint", ...);
    ``hint`` says what to do about a corrupt file; ``load_kw`` go to ``torch.load`` (``map_location``, ``weights_only``).
    The one recipe for reading a torch file (its writer: :func:`save_torch`). ``wrap_errors=False``: no
    checks, torch's own exception passes through, for a caller that words the problem itself (a lab's
    ANIMAL-SPOT or BehaveMAE file).
    """

    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    path = Path(path)
    if not wrap_errors:
        return torch.load(path, **load_kw)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: {what} is empty (0 bytes); {hint}")
    try:
        return torch.load(path, **load_kw)
    except PermissionError:
        raise InputError(f"{path}: {what} cannot be read: permission denied") from None
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        OSError,
        RuntimeError,
        ValueError,
        AttributeError,
        ImportError,
        KeyError,
        IndexError,
        TypeError,
    ) as exc:
        raise unreadable_file_error(path, what, hint, exc) from None


def unreadable_file_error(path: str | os.PathLike, what: str, hint: str, exc: BaseException) -> InputError:
    """The one-line :class:`InputError` for a file that exists but cannot be read: names the file, the
    kind of file, torch's (or the reader's) error in short, and what to do (``hint``)."""
    text = " ".join(str(exc).split())[:160]
    return InputError(f"{path}: {what} is truncated or corrupt ({type(exc).__name__}: {text}); {hint}")


def release_freed_memory() -> None:
    """Hand the C heap's freed pages back to the operating system (glibc ``malloc_trim(0)``; a no-op
    elsewhere). Long stages call it between large transient steps (a streamed tape, then its figures), so
    the peak resident memory of the next step does not stack on pages the previous one already freed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
