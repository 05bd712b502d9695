"""Checks that give damaged input files their true diagnosis, naming the file (and row/key).

Each check raises :class:`~ethoflow.core.errors.InputError` with one line ``<file>: <problem>``:

- :func:`check_file` : missing, a folder, or empty (0 bytes);
- :func:`audio_info` : audio that is empty, header-only, not audio at all, or truncated (a WAV whose
  ``data`` chunk promises more bytes than the file holds is a cut copy, not a short recording);
- :func:`check_columns` : a column the params name that a table lacks (names the asked column and the
  columns present);
- :func:`check_hdf5` : a keypoint file (SLEAP ``.slp``, DeepLabCut/SLEAP ``.h5``) that is not HDF5;
- :func:`check_pose_sessions` : a pose session whose every coordinate is NaN, and files whose bodyparts
  differ (names the file and the missing/extra bodyparts);
- :func:`check_last_row` : a CSV cut mid-row (its last line has fewer fields than its header and no
  line end), which pandas would read as a row of empty cells;
- :func:`walk_input_files` : the files of a folder walk, naming a symlink loop, a broken symlink, an
  unreadable file or folder, and one file reached by two paths, instead of what a library makes of them.

Only numpy and soundfile are imported, lazily.
"""

from __future__ import annotations

import csv
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` if it is a non-empty regular file.

    Raises:
        InputError: ``<path>: <what> not found`` / ``is a folder`` / ``is empty (0 bytes)``.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: {what} is a folder, not a file")
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: {what} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise InputError(f"{path}: {what} is empty (0 bytes)")
    return path


@dataclass(frozen=True)
class AudioInfo:
    """Sample rate (Hz), frames (samples per channel), channels and duration (s) of a sound file."""

    sr: int
    frames: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sr


def _wav_data_chunk(path: Path) -> tuple[int, int] | None:
    """(declared data bytes, bytes present after the data chunk header) of a RIFF/WAVE file, else None."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while True:
            fh.seek(pos)
            ch = fh.read(8)
            if len(ch) < 8:
                return None
            cid, n = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"data":
                if n == 0xFFFFFFFF:  # streamed WAV: size unknown, nothing to compare
                    return None
                return n, size - (pos + 8)
            pos += 8 + n + (n & 1)


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header facts of a WAV/FLAC/... file, after checking the file really holds its audio.

    A truncated file (the header's frame count is more than the data present: the ``data`` chunk size
    of a WAV against the bytes after it; for other formats, the last frames cannot be decoded) is
    reported as truncated, not read as a short recording.

    Raises:
        InputError: missing, empty (0 bytes), not a readable sound file (libsndfile's reason), no audio
            samples (header only), or truncated (declared vs present length).
    """
    # local: keeps ethoflow.core.inputs importable without numpy
    import soundfile as sf

    path = check_file(path, "audio file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        reason = str(exc).split(":", 1)[-1].strip() or type(exc).__name__
        raise InputError(f"{path}: not a readable audio file ({reason})") from None
    chunk = _wav_data_chunk(path)
    if chunk is not None:
        declared, present = chunk
        if present < declared:
            frames = _declared_frames(info, declared)
            raise InputError(
                f"{path}: truncated audio file: the header declares {declared} bytes of samples "
                f"({frames / info.samplerate:.3f} s) but only {present} are present "
                f"({info.frames / info.samplerate:.3f} s)"
            )
    if info.frames == 0:
        raise InputError(f"{path}: audio file holds no samples (header only)")
    if chunk is None:
        try:
            with sf.SoundFile(str(path)) as fh:
                fh.seek(max(0, info.frames - 4096))
                tail = fh.read(4096)
            got = max(0, info.frames - 4096) + len(tail)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise InputError(
                f"{path}: truncated or corrupt audio file: the header declares {info.frames} frames "
                f"({info.frames / info.samplerate:.3f} s) but its end cannot be decoded ({exc})"
            ) from None
        if got < info.frames:
            raise InputError(
                f"{path}: truncated audio file: the header declares {info.frames} frames, only {got} can be read"
            )
    return AudioInfo(int(info.samplerate), int(info.frames), int(info.channels))


def check_finite_audio(y: Any, path: str | os.PathLike, sr: float, offset: int = 0) -> None:
    """Raise when audio samples ``y`` (shape (n,) or (n, channels), read from ``path`` starting at file
    frame ``offset``, rate ``sr`` Hz) hold a NaN or infinite value (float WAV/FLAC/... files can): such a
    sample would turn every spectrogram frame it touches, and so window probabilities, into NaN.

    Raises:
        InputError: naming the file, the time (s) and frame of the first bad sample and how many there are.
    """
    # local: keeps ethoflow.core.inputs importable without numpy
    import numpy as np

    bad = ~np.isfinite(y)
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    value = np.asarray(y)[first].ravel()
    kind = "NaN" if np.isnan(value).any() else "infinite"
    raise InputError(
        f"{path}: {kind} sample at {(offset + first) / sr:.6f} s (frame {offset + first}; {int(bad.sum())} "
        f"non-finite sample(s) in the frames read): repair or re-export the recording, or leave it out"
    )


def nonfinite_spans(y: Any) -> list[tuple[int, int]]:
    """The runs of frames of ``y`` (shape (n,) or (n, channels)) holding a NaN or infinite sample in any
    channel: a list of ``(first, end)`` frame indices (``end`` exclusive), in order. Empty when all are finite."""
    # local: keeps ethoflow.core.inputs importable without numpy
    import numpy as np

    bad = ~np.isfinite(y)
    if bad.ndim > 1:
        bad = bad.any(axis=1)
    if not bad.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], bad.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def screen_nonfinite(
    y: Any, path: str | os.PathLike, sr: float, offset: int = 0, nonfinite: str = "fail"
) -> tuple[Any, list[tuple[int, int]]]:
    """Apply the ``nonfinite`` rule (``acoustic.corpus.nonfinite``) to audio samples ``y`` (shape (n,) or
    (n, channels), read from ``path`` starting at file frame ``offset``, rate ``sr`` Hz).

    ``fail``: :func:`check_finite_audio` (an error naming the time of the first bad sample). ``skip``: every
    frame with a NaN/infinite sample in any channel is set to 0 in all channels (so nothing computed from
    it is NaN; the caller leaves out every window touching those frames) and the runs of such frames are
    returned as ``(first, end)`` file frames (``end`` exclusive, ``offset`` added).

    Returns:
        ``(y, spans)``: ``y`` itself when all samples are finite, else a copy with the bad frames zeroed.

    Raises:
        InputError: ``fail`` and a sample is not finite; ``nonfinite`` neither ``fail`` nor ``skip``.
    """
    if nonfinite not in ("fail", "skip"):
        raise InputError(f"nonfinite must be 'fail' or 'skip', got {nonfinite!r}")
    if nonfinite == "fail":
        check_finite_audio(y, path, sr, offset)
        return y, []
    spans = nonfinite_spans(y)
    if not spans:
        return y, []
    y = y.copy()
    for a, b in spans:
        y[a:b] = 0.0
    return y, [(a + offset, b + offset) for a, b in spans]


def _declared_frames(info: Any, declared_bytes: int) -> int:
    """Frames the WAV header declares: declared bytes over bytes per frame (from the subtype)."""
    bits = {"PCM_U8": 8, "PCM_S8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64}
    b = bits.get(str(info.subtype), 16) // 8 * int(info.channels)
    return max(1, declared_bytes // b)


def check_columns(
    path: str | os.PathLike, asked: Mapping[str, str | None] | Iterable[str], present: Sequence[str]
) -> None:
    """Raise when a column the params name is not in a table.

    Args:
        path: the table (named in the message).
        asked: ``{param name: column}`` (e.g. ``{"label_column": "Specis"}``; ``None`` values skipped) or
            plain column names.
        present: the table's columns.

    Raises:
        InputError: ``<path>: label_column 'Specis' is not a column of this table (columns: a, b, ...)``.
    """
    items = asked.items() if isinstance(asked, Mapping) else ((None, c) for c in asked)
    for key, col in items:
        if col is not None and col not in present:
            what = f"{key} {col!r}" if key else f"column {col!r}"
            raise InputError(f"{path}: {what} is not a column of this table (columns: {', '.join(map(str, present))})")


def check_hdf5(path: str | os.PathLike, what: str = "keypoint file") -> Path:
    """Check that ``path`` is a non-empty HDF5 file (SLEAP ``.slp``, ``.h5``) before a library opens it.

    Raises:
        InputError: missing, empty, ``not an HDF5 file (it starts with b'...')``, or truncated (the bytes
            present against the end-of-file address in the HDF5 superblock, as h5py reports it).
    """
    path = check_file(path, what)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE:
        raise InputError(f"{path}: {what} is not an HDF5 file (it starts with {head!r}); wrong format or damaged")

    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import h5py

    try:
        with h5py.File(path, "r"):
            pass
    except OSError as exc:
        m = re.search(r"eof = (\d+).*stored_eof = (\d+)", str(exc))
        if m:
            raise InputError(
                f"{path}: {what} is truncated: {m.group(1)} of the {m.group(2)} bytes its HDF5 header declares are present"
            ) from None
        raise InputError(f"{path}: {what} is not a readable HDF5 file ({' '.join(str(exc).split())[:160]})") from None
    return path


def check_pose_sessions(
    coordinates: Mapping[str, Any],
    bodyparts: Mapping[str, Sequence[str]] | None = None,
    files: Mapping[str, str] | None = None,
) -> None:
    """Name the pose inputs that cannot be modelled, before fragments and NaN fractions are judged.

    Args:
        coordinates: ``{session: (T, K, D) array}`` (NaN = not tracked).
        bodyparts: ``{file: [bodypart names]}`` in reading order; the first file is the reference.
        files: ``{session: file}`` to name the file of a session.

    Raises:
        InputError: a session whose coordinates are all NaN (``<file>: session 's': all 1100 frames are
            NaN (no keypoint tracked)``); a file whose bodyparts differ from the first file's (names
            both files, the missing and the extra bodyparts).
    """
    # local: keeps ethoflow.core.inputs importable without numpy
    import numpy as np

    files = files or {}
    if bodyparts:
        items = list(bodyparts.items())
        ref_file, ref = items[0]
        for f, bps in items[1:]:
            if list(bps) != list(ref):
                missing = [b for b in ref if b not in bps]
                extra = [b for b in bps if b not in ref]
                detail = (
                    f"missing {missing}" if missing else "",
                    f"extra {extra}" if extra else "",
                    "same names in another order" if not missing and not extra else "",
                )
                raise InputError(f"{f}: bodyparts differ from {ref_file}: " + "; ".join(d for d in detail if d))
    for name in sorted(coordinates):
        c = np.asarray(coordinates[name])
        if c.size == 0 or bool(np.isnan(c).all()):
            where = files.get(name, name)
            raise InputError(f"{where}: session {name!r}: all {c.shape[0]} frames are NaN (no keypoint tracked)")


def warn_checkpoint_overrides(
    path: str | os.PathLike, stored: Mapping[str, Any], params: Mapping[str, Any], prefix: str
) -> list[str]:
    """Warn, once per key, where a model file's own hyperparameters override the params in use.

    A model is always run with the hyperparameters saved in its file (the weights only fit those);
    when params.yaml says otherwise, that is a decision the user must see. Keys present in only one
    of the two are ignored.

    Args:
        path: the model file (named in the message).
        stored: the hyperparameters saved in it (flat mapping).
        params: the same keys from params.yaml.
        prefix: the params section, e.g. ``"acoustic.features"``.

    Returns:
        one line per differing key: ``<path>: the model file's n_fft=512 overrides params
        acoustic.features.n_fft=2048 (the file's value is used)``; each is also logged as a warning.
    """
    log = get_logger("ethoflow.checkpoint")
    lines = []
    for key in sorted(set(stored) & set(params)):
        a, b = stored[key], params[key]
        if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
            a, b = list(a) if a is not None else a, list(b) if b is not None else b
        if a != b:
            lines.append(
                f"{path}: the model file's {key}={a!r} overrides params {prefix}.{key}={b!r} (the file's value is used)"
            )
    for line in lines:
        log.warning("%s", line)
    return lines


def _readable(path: Path, what: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"{path}: {what} cannot be read ({exc.strerror or exc})") from None
    os.close(fd)


def walk_input_files(
    paths: Sequence[str | os.PathLike], extensions: Sequence[str], what: str = "input file", recursive: bool = True
) -> list[Path]:
    """The files under ``paths`` (files or folders) whose extension is in ``extensions``: per path in the
    order given, the files of a folder sorted by path (as keypoint-moseq's ``list_files_with_exts``).

    Walks folders itself (following symlinks, as the libraries' glob walks do) so that what goes wrong
    is named: a symlink that points back to a folder containing it (a loop, which a glob walk follows
    until its names repeat), a broken symlink, a folder or file that cannot be read, and one file
    reached through two paths (a library would report "duplicate names" or load it twice).

    Raises:
        InputError: ``<link>: symlink loop: it points to <target>, a folder that contains it``;
            ``<link>: broken symlink (points to <target>, which does not exist)``; ``<path>: <what> cannot
            be read (<cause>)``; ``<a>: the same file as <b> (reached through a symlink)``; a path that
            does not exist.
    """
    exts = {("." + e.strip(".")).lower() for e in extensions}
    out: list[Path] = []
    real_of: dict[str, Path] = {}

    def take(p: Path) -> None:
        if p.suffix.lower() not in exts:
            return
        _readable(p, what)
        real = os.path.realpath(p)
        if real in real_of:
            if os.path.abspath(p) == os.path.abspath(real_of[real]):
                return  # the same path twice (a folder and its files both matched a pattern)
            other = real_of[real]
            link, target = (other, p) if os.path.abspath(other) != real else (p, other)
            raise InputError(f"{link}: the same file as {target} (reached through a symlink); it would load twice")
        real_of[real] = p
        out.append(p)

    def broken(p: Path) -> None:
        raise InputError(f"{p}: broken symlink (points to {os.readlink(p)}, which does not exist)")

    def walk(folder: Path, chain: tuple[tuple[int, int], ...]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"{folder}: folder cannot be read ({exc.strerror or exc})") from None
        for e in entries:
            p = Path(e.path)
            if e.is_symlink() and not p.exists():
                broken(p)
            if e.is_dir():
                st = p.stat()
                key = (st.st_dev, st.st_ino)
                if key in chain:
                    raise InputError(
                        f"{p}: symlink loop: it points to {os.path.realpath(p)}, a folder that contains it"
                    )
                if recursive:
                    walk(p, (*chain, key))
            else:
                take(p)

    for raw in paths:
        start = len(out)
        p = Path(raw)
        if p.is_symlink() and not p.exists():
            broken(p)
        if p.is_dir():
            st = p.stat()
            walk(p, ((st.st_dev, st.st_ino),))
        elif p.exists():
            if p.suffix.lower() not in exts:
                raise InputError(f"{p}: {what} has extension {p.suffix!r}; expected one of {sorted(exts)}")
            take(p)
        else:
            raise InputError(f"{p}: {what} not found")
        out[start:] = sorted(out[start:], key=str)  # the order keypoint-moseq's own walk gives
    return out


def check_last_row(path: str | os.PathLike, what: str = "table", sep: str = ",") -> None:
    """Raise when a delimited text file ends in a cut row: no line end after the last line, and fewer
    fields there than in the header (pandas pads such a row with empty cells, silently).

    A file that merely lacks its final line end, with a complete last row, passes.

    Raises:
        InputError: ``<path>: <what> is truncated: its last line (line N) has k of the m fields of the
            header and no line end``.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.readline()
        size = fh.seek(0, os.SEEK_END)
        if size == 0 or head.endswith(b"\n") and size == len(head):
            return
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        n_head = len(next(csv.reader([head.decode("utf-8").rstrip("\r\n")], delimiter=sep)))
        n_last = len(next(csv.reader([last.decode("utf-8")], delimiter=sep)))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return  # not this check's diagnosis: the reader names undecodable text
    if n_last < n_head:
        with open(path, "rb") as fh:
            n_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b"")) + 1
        raise InputError(
            f"{path}: {what} is truncated: its last line (line {n_lines}) has {n_last} of the {n_head} fields "
            "of the header and no line end (an incomplete copy?)"
        )
