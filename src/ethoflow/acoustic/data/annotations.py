"""Annotation-format readers of the corpus stage: every source's annotation files -> raw events.

Every annotation format is read by **crowsetta** (Raven selection tables, Audacity labels, the
BirdsongRecognition dataset's ``Annotation.xml``, Praat TextGrid, ...); Raven tables are first cleaned
the way real exports come (:func:`read_raven_table`). Each annotation file is paired with its audio file
by name. Bad input is collected per file (:class:`Problems`), never raised past :func:`read_source`.
"""

from __future__ import annotations

import glob
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ethoflow.acoustic.params import SourceParams
from ethoflow.core import InputError, get_logger
from ethoflow.core.inputs import audio_info, check_columns, check_file

log = get_logger(__name__)


@dataclass
class Problems:
    """Bad-input messages, per file."""

    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, file: str | Path, problem: str) -> None:
        self.items.append({"file": str(file), "problem": problem})
        log.warning("%s: %s", file, problem)

    def __len__(self) -> int:
        return len(self.items)


def audio_facts(path: Path) -> tuple[int, float, int]:
    """(sr, duration s, channels); truncated, empty or non-audio files raise ``InputError`` saying so."""
    info = audio_info(path)
    return info.sr, info.duration_s, info.channels


def _pair_audio(annot_path: Path, src: SourceParams, root: Path) -> Path:
    if src.audio:
        return root / src.audio
    folder = root / src.audio_dir if src.audio_dir else annot_path.parent
    if src.audio_dir and Path(src.audio_dir).is_absolute():
        folder = Path(src.audio_dir)
    name = annot_path.name
    for marker in (".Table.", ".selections", ".TextGrid", ".txt", ".csv"):
        if marker in name:
            name = name.split(marker)[0]
            break
    else:
        name = annot_path.stem
    return folder / f"{name}{src.audio_ext}"


#: the numeric columns of a Raven selection table (crowsetta's RavenSchema needs the first four)
RAVEN_NUMERIC = ("Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)")
#: the columns of a Raven Pro selection table that ethoflow writes, in order (extra columns follow)
RAVEN_COLUMNS = ("Selection", "View", "Channel", *RAVEN_NUMERIC, "Annotation")
_COMMA_DECIMAL = re.compile(r"^\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*$")


def read_raven_table(
    path: str | Path, label_column: str = "Annotation", numeric: tuple[str, ...] = (), bad_rows: str = "fail"
) -> tuple[Any, list[str]]:
    """Read a Raven selection table the way real exports come, into crowsetta's ``Raven`` object.

    - Encoding: UTF-8 (with or without BOM); a file that is not valid UTF-8 is read as latin-1 (Raven on
      Windows writes the system code page), with an info line.
    - Numbers: a decimal comma (European-locale exports, ``1,25``) is read as a decimal point.
    - A cell of :data:`RAVEN_NUMERIC` (or of ``numeric``, e.g. the quality column) that is not a number
      is an error naming the file, the row (1 = the first selection, the file's line 2) and the column;
      with ``bad_rows: skip`` that row is left out instead and reported in the returned list.

    The cleaned table is validated by crowsetta's ``RavenSchema`` (crowsetta 5, Raven format).

    Returns:
        (``crowsetta.formats.bbox.Raven`` with ``df`` columns ``begin_time_s, end_time_s, low_freq_hz,
        high_freq_hz, annotation`` and the others as in the file, messages of the skipped rows).

    Raises:
        InputError: no rows, a missing Raven column, or (``bad_rows: fail``) a bad cell.
    """

    # local: keeps ethoflow.acoustic.data.annotations importable without pandas
    import pandas as pd
    from crowsetta.formats.bbox.raven import Raven, RavenSchema

    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        log.info("%s: not UTF-8; read as latin-1", path)
    df = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    for c in (*RAVEN_NUMERIC, label_column):
        if c not in df.columns:
            raise InputError(
                f"{path}: cannot read as 'raven' selection table: no column {c!r} (columns: {list(df.columns)})"
            )
    if not len(df):
        raise InputError(f"{path}: no selections (rows) in the table")
    bad: dict[int, str] = {}
    for c in (*RAVEN_NUMERIC, *[n for n in numeric if n and n in df.columns]):
        v = df[c].str.strip()
        v = v.where(~v.str.match(_COMMA_DECIMAL), v.str.replace(",", ".", regex=False))
        num = pd.to_numeric(v, errors="coerce")
        for i in range(len(df)):
            if pd.isna(num.iloc[i]) and i not in bad:
                bad[i] = f"{path}: row {i + 1} (line {i + 2}), column {c!r}: {df[c].iloc[i]!r} is not a number"
        df[c] = num
    if bad and bad_rows == "fail":
        more = f" (and {len(bad) - 1} more bad rows)" if len(bad) > 1 else ""
        raise InputError(f"{bad[min(bad)]}{more}; fix the table, or set acoustic.corpus.bad_rows: skip")
    skipped = [f"{m}; row skipped" for _, m in sorted(bad.items())]
    df = df.drop(index=sorted(bad)).reset_index(drop=True)
    if not len(df):
        raise InputError(f"{path}: no selection left after skipping {len(bad)} bad rows")
    df = df.rename(columns={**Raven.COLUMNS_MAP, label_column: "annotation"})
    df = RavenSchema.validate(df)
    return Raven(df=df, annot_path=path, annot_col=label_column), skipped


#: a raw event's keys, in the readers' order (:func:`_raw_event`)
_RAW_EVENT_KEYS = ("file", "annot", "row", "start_s", "end_s", "low_hz", "high_hz", "raw_label", "quality")
_NO_BAND = (None, None)


def _raw_event(file: Path, annot: Path, row: int, span: tuple, band: tuple, label: str, quality: Any = None) -> dict:
    """One raw event as the readers return it (:data:`_RAW_EVENT_KEYS`): audio ``file``, annotation file
    ``annot`` and its ``row`` (1 = the first annotation), ``span`` (start, end) in s, ``band`` (low, high)
    in Hz (None, None when the format has none), ``label`` (raw), ``quality`` (None when not read)."""
    return dict(zip(_RAW_EVENT_KEYS, (file, annot, row, *span, *band, label, quality)))


def _read_raven(
    p: Path, src: SourceParams, root: Path, problems: Problems, bad_rows: str, events: list[dict[str, Any]]
) -> None:
    """Append the raw events of Raven selection table ``p`` to ``events`` (its skipped rows: ``problems``).

    Raises:
        InputError: a wrong column or a bad table (:func:`read_raven_table`). ValueError: the source's
            quality column is not in the table.
    """
    check_file(p, "selection table")
    with open(p, encoding="latin-1") as fh:
        header = [h.strip() for h in fh.readline().lstrip("\ufeff\xef\xbb\xbf").split("\t")]
    if "Begin Time (s)" in header:  # a Raven table: name a wrong column before crowsetta does
        check_columns(p, {"label_column": src.label_column, "quality_column": src.quality_column}, header)
    obj, skipped = read_raven_table(p, src.label_column, (src.quality_column or "",), bad_rows)
    for msg in skipped:
        problems.add(p, msg.split(": ", 1)[-1])
    df = obj.df
    audio = _pair_audio(p, src, root)
    qcol = src.quality_column
    if qcol and qcol not in df.columns:
        raise ValueError(f"quality column '{qcol}' not in the table (columns: {list(df.columns)})")
    for i, row in enumerate(df.itertuples(index=False)):
        r = row._asdict()
        events.append(
            _raw_event(
                audio,
                p,
                i + 1,
                (float(r["begin_time_s"]), float(r["end_time_s"])),
                (float(r["low_freq_hz"]), float(r["high_freq_hz"])),
                str(r["annotation"]),
                float(df[qcol].iloc[i]) if qcol else None,
            )
        )


def _read_birdsong(p: Path, src: SourceParams, root: Path, problems: Problems, events: list[dict[str, Any]]) -> None:
    """Append the raw events of a BirdsongRecognition ``Annotation.xml`` ``p`` to ``events``; notes of
    missing or unreadable audio files are skipped, each such file named once in ``problems``."""
    # local: crowsetta is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import crowsetta

    wav_dir = root / src.audio_dir if src.audio_dir else p.parent / "Wave"
    obj = crowsetta.Transcriber(format=src.format).from_file(p, wav_path=wav_dir)
    missing: dict[str, int] = {}
    for seq in obj.sequences:
        audio = wav_dir / Path(seq.wav_file).name
        if not audio.exists():
            missing[audio.name] = missing.get(audio.name, 0) + len(seq.syls)
            continue
        try:
            sr = audio_facts(audio)[0]
        except InputError as exc:  # truncated/unreadable: named once, its notes skipped
            msg = str(exc).split(": ", 1)[-1]
            problems.add(project_relpath(audio, root), f"{msg}; its {len(seq.syls)} annotations skipped")
            continue
        for i, syl in enumerate(seq.syls):
            events.append(
                _raw_event(
                    audio, p, i + 1, (syl.position / sr, (syl.position + syl.length) / sr), _NO_BAND, str(syl.label)
                )
            )
    if missing:
        names = sorted(missing, key=lambda s: (len(s), s))
        problems.add(
            p,
            f"{sum(missing.values())} annotated notes of {len(missing)} audio files that do not exist "
            f"in {wav_dir} were skipped ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})",
        )


def _read_crowsetta(p: Path, src: SourceParams, root: Path, events: list[dict[str, Any]]) -> None:
    """Append the raw events of annotation file ``p`` in any other crowsetta format (sequences or bounding
    boxes) to ``events``, paired with their audio file by :func:`_pair_audio`."""
    # local: crowsetta is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import crowsetta
    import numpy as np

    obj = crowsetta.Transcriber(format=src.format).from_file(p)
    annots = obj.to_annot()
    annots = annots if isinstance(annots, list) else [annots]
    for annot in annots:
        audio = _pair_audio(p, src, root)
        if getattr(annot, "seq", None) is not None:
            seq = annot.seq
            on = np.asarray(seq.onsets_s, float)
            off = np.asarray(seq.offsets_s, float)
            items = [(a, b, None, None, lab) for a, b, lab in zip(on, off, seq.labels)]
        else:
            items = [(b.onset, b.offset, b.low_freq, b.high_freq, b.label) for b in annot.bboxes]
        for i, (a, b, lo, hi, lab) in enumerate(items):
            events.append(
                _raw_event(
                    audio,
                    p,
                    i + 1,
                    (float(a), float(b)),
                    (None if lo is None else float(lo), None if hi is None else float(hi)),
                    str(lab),
                )
            )


def read_source(src: SourceParams, root: Path, problems: Problems, bad_rows: str = "fail") -> list[dict[str, Any]]:
    """Raw events of one source: dicts with file (Path), start_s, end_s, low_hz, high_hz, raw_label, quality."""
    paths = sorted(glob.glob(str(root / src.annotations)))
    if not paths:
        problems.add(src.annotations, f"source '{src.name}': no annotation file matches this pattern")
        return []
    events: list[dict[str, Any]] = []
    for p in paths:
        p = Path(p)
        try:
            if src.format == "raven":
                _read_raven(p, src, root, problems, bad_rows, events)
            elif src.format == "birdsong-recognition-dataset":
                _read_birdsong(p, src, root, problems, events)
            else:
                _read_crowsetta(p, src, root, events)
        except InputError as exc:  # our own diagnosis names the file already
            problems.add(p, str(exc).split(": ", 1)[-1])
        except Exception as exc:  # crowsetta raises many types for a bad file
            problems.add(p, f"cannot read as '{src.format}' annotations: {type(exc).__name__}: {exc}")
    return events


def project_relpath(path: Path, root: Path) -> str:
    """Paths configured as absolute stay absolute; relative ones are kept relative to the project root."""
    if Path(path).is_absolute():
        return str(path)
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
