"""A detection set's recordings: listing them (a folder, a file or a glob) and screening bad files.

A file that cannot be opened, holds no samples, or is truncated (a WAV whose data chunk is shorter than
its header says) is reported by :func:`audio_problem`; ``acoustic_detect`` skips it or stops
(``on_error``).
"""

from __future__ import annotations

import glob as globlib
import os
import struct
from pathlib import Path

from ethoflow.acoustic.params import AUDIO_EXTENSIONS
from ethoflow.core import InputError
from ethoflow.core.paths import glob_base


def list_recordings(spec: str, root: str | Path = ".") -> list[tuple[str, Path]]:
    """Recordings of a detection set: ``(recording id, path)`` sorted by id.

    Args:
        spec: a folder (every ``.wav``/``.flac`` file below it, recursively), one audio file, or a glob
            (relative to ``root``); hidden files (``.name``: partial writes) are left out.
    Returns:
        ids are the path relative to the folder (the glob's static part) without the extension,
        ``/`` replaced by ``__``.
    Raises:
        InputError: nothing matches, or two files give the same id (``a.wav`` and ``a.flac``).
    """
    root = Path(root)
    base = root / spec
    if base.is_dir():
        files = [p for p in base.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS]
    elif base.is_file():
        files, base = [base], base.parent
    else:
        files = [Path(p) for p in globlib.glob(str(base), recursive=True)]
        files = [p for p in files if p.is_file()]
        base = root / glob_base(spec)
    files = [p for p in files if not p.name.startswith(".")]
    if not files:
        raise InputError(f"{spec}: no recordings (wav/flac files) found")
    out: dict[str, Path] = {}
    for p in sorted(files):
        rid = str(p.relative_to(base).with_suffix("")).replace(os.sep, "__")
        if rid in out:
            raise InputError(f"{spec}: {out[rid]} and {p} both give recording id {rid!r}; rename one")
        out[rid] = p
    return sorted(out.items())


def wav_declared_frames(path: str | Path) -> tuple[int | None, int | None]:
    """(frames the WAV header declares, frames the file holds) from the RIFF chunks; ``(None, None)``
    when the file is not a plain RIFF/WAVE or the header leaves the size open (0 or 0xFFFFFFFF)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None, None
        block_align, pos = None, 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, n = struct.unpack("<4sI", fh.read(8))
            if cid == b"fmt ":
                fmt = fh.read(min(n, 16))
                if len(fmt) >= 14:
                    block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                if not block_align or n in (0, 0xFFFFFFFF):
                    return None, None
                return n // block_align, max(0, size - pos - 8) // block_align
            pos += 8 + n + (n & 1)
    return None, None


def audio_problem(path: str | Path) -> str | None:
    """Why a recording cannot be used (unreadable, empty, truncated WAV), or None when it can."""
    # local: keeps ethoflow.acoustic.inference.recordings importable without numpy
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        return f"unreadable ({' '.join(str(exc).split())[:160]})"
    if info.frames <= 0:
        return "empty (no samples)"
    declared, held = wav_declared_frames(path)
    if declared is not None and held is not None and held < declared:
        return f"truncated: the WAV header declares {declared} frames, the file holds {held}"
    return None
