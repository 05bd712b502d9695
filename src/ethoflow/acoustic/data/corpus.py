"""acoustic_corpus: recordings + crowsetta annotations -> one corpus index (events and recordings).

Every annotation format is read by **crowsetta** (Raven selection tables, Audacity labels, the
BirdsongRecognition dataset's ``Annotation.xml``, Praat TextGrid, ...). The index is a JSON file::

    {"recordings": [{recording, tape, source, file, sr, duration_s, n_channels}, ...],
     "events":     [{uid, recording, tape, source, file, start_s, end_s, low_hz, high_hz,
                     raw_label, label, role, quality, n_merged}, ...],
     "classes": [...]}

``role`` is ``target`` (a call to detect, ``label`` its class), ``noise`` (an annotated non-target
sound, usable as a noise example) or ``ignored`` (dropped by the label map or ``min_quality``; still
avoided when noise is mined). Bad input (unreadable annotation or audio file, annotation for a missing
file, an event past the end of its file, zero or negative duration) is collected per file; with
``on_error: skip`` those files/events are left out and listed in the report, with ``fail`` the stage
stops with the whole list.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ethoflow.acoustic.params import CorpusParams, SourceParams
from ethoflow.core import InputError, get_logger
from ethoflow.core.inputs import audio_info, check_columns, check_file

log = get_logger(__name__)

END_TOLERANCE_S = 1e-3


@dataclass
class Problems:
    """Bad-input messages, per file."""

    items: list[dict[str, str]] = field(default_factory=list)

    def add(self, file: str | Path, problem: str) -> None:
        self.items.append({"file": str(file), "problem": problem})
        log.warning("%s: %s", file, problem)

    def __len__(self) -> int:
        return len(self.items)


def _audio_info(path: Path) -> tuple[int, float, int]:
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
    import io

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
            sr = _audio_info(audio)[0]
        except InputError as exc:  # truncated/unreadable: named once, its notes skipped
            msg = str(exc).split(": ", 1)[-1]
            problems.add(_relpath(audio, root), f"{msg}; its {len(seq.syls)} annotations skipped")
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


def _read_source(src: SourceParams, root: Path, problems: Problems, bad_rows: str = "fail") -> list[dict[str, Any]]:
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


def _map_label(raw: str, cfg: CorpusParams) -> tuple[str | None, str]:
    """(class label or None, role)."""
    lab = cfg.label_map.get(raw)
    if lab is None:
        lab = {"keep": raw, "target": "target", "noise": "noise", "drop": None}[cfg.unmapped]
    if lab is None:
        return None, "ignored"
    if lab == "noise":
        return "noise", "noise"
    return lab, "target"


def merge_events(events: list[dict[str, Any]], gap_s: float) -> list[dict[str, Any]]:
    """Merge events of one recording and one (label, role) whose gap is <= ``gap_s`` seconds.

    Merged events span first start to last end, low/high frequency the min/max, quality the minimum,
    ``n_merged`` the number of events joined (notes into a song bout).
    """
    out: list[dict[str, Any]] = []
    key = lambda e: (e["recording"], e["role"], str(e["label"]), e["start_s"], e["end_s"])  # noqa: E731
    for e in sorted(events, key=key):
        last = out[-1] if out else None
        if (
            last is not None
            and last["recording"] == e["recording"]
            and last["role"] == e["role"]
            and last["label"] == e["label"]
            and e["start_s"] - last["end_s"] <= gap_s
        ):
            last["end_s"] = max(last["end_s"], e["end_s"])
            for k, f in (("low_hz", min), ("high_hz", max), ("quality", min)):
                vals = [v for v in (last[k], e[k]) if v is not None]
                last[k] = f(vals) if vals else None
            last["n_merged"] += e["n_merged"]
        else:
            out.append(dict(e))
    return out


def resolve_overlaps(events: list[dict[str, Any]], policy: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Find annotations of one (recording, role, label) that overlap an earlier one, and apply ``policy``.

    An event overlaps when it starts before the end of an earlier event of its group; it is *nested*
    when it also ends no later. ``keep`` leaves them, ``merge`` joins each overlapping run into one event
    (first start to last end, frequency band the union, quality the minimum, ``n_merged`` summed),
    ``drop`` removes every event that overlaps an earlier kept one.

    Returns:
        (events, counts) with counts ``{"policy", "n_overlapping", "n_nested", "n_merged_away",
        "n_dropped", "examples"}`` (``examples``: up to 5 ``"<recording> a-b s overlaps c-d s"``).
    """
    key = lambda e: (e["recording"], e["role"], str(e["label"]), e["start_s"], e["end_s"])  # noqa: E731
    out: list[dict[str, Any]] = []
    n_over = n_nested = n_merged = n_dropped = 0
    examples: list[str] = []
    for e in sorted(events, key=key):
        last = out[-1] if out else None
        same = last is not None and all(last[k] == e[k] for k in ("recording", "role", "label"))
        if not (same and e["start_s"] < last["end_s"]):
            out.append(dict(e))
            continue
        n_over += 1
        nested = e["end_s"] <= last["end_s"]
        n_nested += nested
        if len(examples) < 5:
            examples.append(
                f"{e['recording']} {e['start_s']:.3f}-{e['end_s']:.3f} s {'inside' if nested else 'overlaps'} "
                f"{last['start_s']:.3f}-{last['end_s']:.3f} s ({e['label']})"
            )
        if policy == "keep":
            out.append(dict(e))
        elif policy == "merge":
            last["end_s"] = max(last["end_s"], e["end_s"])
            for k, f in (("low_hz", min), ("high_hz", max), ("quality", min)):
                vals = [v for v in (last[k], e[k]) if v is not None]
                last[k] = f(vals) if vals else None
            last["n_merged"] += e["n_merged"]
            n_merged += 1
        else:
            n_dropped += 1
    if n_over:
        log.warning(
            "corpus: %d annotations overlap an earlier one of their class (%d nested); overlaps: %s (%s)",
            n_over,
            n_nested,
            policy,
            "; ".join(examples[:3]),
        )
    counts = dict(
        policy=policy,
        n_overlapping=n_over,
        n_nested=n_nested,
        n_merged_away=n_merged,
        n_dropped=n_dropped,
        examples=examples,
    )
    return out, counts


def _recording_entry(
    audio: Path, evs: list[dict], src: SourceParams, tape_re: re.Pattern, root: Path, problems: Problems
) -> tuple[dict[str, Any], float] | None:
    """The recording entry of one annotated audio file, with its unrounded duration (s); None (a problem
    added) when the file is missing or unreadable. ``tape_re``: the source's compiled ``tape_regex``.

    Raises:
        InputError: the source's ``tape_regex`` does not match the recording name.
    """
    rel = _relpath(audio, root)
    if not audio.exists():
        problems.add(
            rel,
            f"{len(evs)} annotations (from {_relpath(evs[0]['annot'], root)}) refer to this "
            f"audio file, which does not exist",
        )
        return None
    try:
        sr, dur, nch = _audio_info(audio)
    except InputError as exc:
        problem = str(exc).split(": ", 1)[-1]
        problems.add(rel, f"{problem}; its {len(evs)} annotations skipped")
        return None
    rec_id = audio.stem
    m = tape_re.search(rec_id)
    if not m:
        raise InputError(
            f"acoustic.corpus.sources[{src.name}].tape_regex {src.tape_regex!r} does not match "
            f"the recording name '{rec_id}' ({rel})"
        )
    tape = m.groupdict().get("tape") or m.group(0)
    tape = f"{src.name}/{tape}" if src.prefix_tapes else tape
    rec = dict(recording=rec_id, tape=tape, source=src.name, file=rel, sr=sr, duration_s=round(dur, 6), n_channels=nch)
    return rec, dur


def _recording_events(
    evs: list[dict], rec: dict[str, Any], dur: float, cfg: CorpusParams, root: Path, problems: Problems
) -> list[dict[str, Any]]:
    """The index events of one recording's annotations ``evs`` (recording entry ``rec``, duration ``dur``
    s): label and role from the label map and ``min_quality``; events of zero or negative duration or
    outside the recording are left out (a problem each)."""
    rel, out = rec["file"], []
    for e in evs:
        where = f"{_relpath(e['annot'], root)} row {e['row']}"
        if not e["end_s"] > e["start_s"]:
            problems.add(
                rel,
                f"{where}: zero or negative duration (start {e['start_s']:.4f} s, "
                f"end {e['end_s']:.4f} s); event skipped",
            )
            continue
        if e["end_s"] > dur + END_TOLERANCE_S or e["start_s"] < 0:
            problems.add(
                rel,
                f"{where}: event {e['start_s']:.3f}-{e['end_s']:.3f} s lies outside the "
                f"recording (0-{dur:.3f} s); event skipped",
            )
            continue
        label, role = _map_label(e["raw_label"], cfg)
        if (
            role == "target"
            and cfg.min_quality is not None
            and e["quality"] is not None
            and e["quality"] < cfg.min_quality
        ):
            role = "ignored"
        out.append(
            dict(
                recording=rec["recording"],
                tape=rec["tape"],
                source=rec["source"],
                file=rel,
                start_s=e["start_s"],
                end_s=min(e["end_s"], dur),
                low_hz=e["low_hz"],
                high_hz=e["high_hz"],
                raw_label=e["raw_label"],
                label=label,
                role=role,
                quality=e["quality"],
                n_merged=1,
            )
        )
    return out


def _read_sources(
    cfg: CorpusParams, root: Path, problems: Problems
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
    """Read every source's annotations, grouped by audio file (in path order). Returns (recording id ->
    recording entry, events in reading order, number of annotations read).

    Raises:
        InputError: a ``tape_regex`` that does not match, or two audio files with the same name.
    """
    recordings: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    n_raw = 0
    for src in cfg.sources:
        raw = _read_source(src, root, problems, cfg.bad_rows)
        n_raw += len(raw)
        tape_re = re.compile(src.tape_regex)
        by_file: dict[Path, list[dict]] = {}
        for e in raw:
            by_file.setdefault(e["file"], []).append(e)
        for audio, evs in sorted(by_file.items(), key=lambda kv: str(kv[0])):
            entry = _recording_entry(audio, evs, src, tape_re, root, problems)
            if entry is None:
                continue
            rec, dur = entry
            rec_id, rel = rec["recording"], rec["file"]
            if rec_id in recordings and recordings[rec_id]["file"] != rel:
                raise InputError(
                    f"two audio files are both named '{rec_id}': {recordings[rec_id]['file']} and {rel}; "
                    f"rename one (recording ids are file stems)"
                )
            recordings[rec_id] = rec
            events.extend(_recording_events(evs, rec, dur, cfg, root, problems))
    return recordings, events, n_raw


def _number_events(events: list[dict[str, Any]]) -> None:
    """Sort ``events`` (recording, start, end, label) and give each its uid ``<recording>#<00001>``, in
    place; times rounded to the microsecond."""
    events.sort(key=lambda e: (e["recording"], e["start_s"], e["end_s"], str(e["label"])))
    counters: dict[str, int] = {}
    for e in events:
        k = counters.get(e["recording"], 0) + 1
        counters[e["recording"]] = k
        e["uid"] = f"{e['recording']}#{k:05d}"
        for key in ("start_s", "end_s"):
            e[key] = round(float(e[key]), 6)


def build_corpus(cfg: CorpusParams, root: str | Path = ".") -> tuple[dict[str, Any], dict[str, Any]]:
    """Read every source and return ``(index, report)`` (see the module docstring for the layout).

    Args:
        cfg: the ``acoustic.corpus`` params. root: the project root that source paths are relative to.

    Raises:
        InputError: no source given, duplicate recording names, or any bad input with ``on_error: fail``
            (the message lists every problem with its file).
    """
    root = Path(root)
    if not cfg.sources:
        raise InputError("acoustic.corpus.sources is empty: name at least one annotation source")
    problems = Problems()
    recordings, events, n_raw = _read_sources(cfg, root, problems)
    if problems and cfg.on_error == "fail":
        lines = "\n".join(f"  {p['file']}: {p['problem']}" for p in problems.items)
        raise InputError(f"acoustic_corpus: {len(problems)} bad inputs (acoustic.corpus.on_error: fail):\n{lines}")
    events, overlaps = resolve_overlaps(events, cfg.overlaps)
    if cfg.merge_gap_s is not None:
        events = merge_events(events, cfg.merge_gap_s)
    _number_events(events)
    classes = sorted({e["label"] for e in events if e["role"] == "target"})
    if not any(e["role"] == "target" for e in events):
        raise InputError(
            "acoustic_corpus: no target events left after reading and cleaning the sources "
            f"({len(problems)} problems; see the log)"
        )
    index = {"recordings": [recordings[k] for k in sorted(recordings)], "events": events, "classes": classes}
    report = {
        "n_sources": len(cfg.sources),
        "n_annotations_read": n_raw,
        "n_recordings": len(recordings),
        "n_tapes": len({r["tape"] for r in recordings.values()}),
        "n_events": len(events),
        "n_by_role": {r: sum(e["role"] == r for e in events) for r in ("target", "noise", "ignored")},
        "n_targets_by_class": {c: sum(e["label"] == c and e["role"] == "target" for e in events) for c in classes},
        "n_problems": len(problems),
        "problems": problems.items,
        "overlaps": overlaps,
        "on_error": cfg.on_error,
    }
    log.info(
        "corpus: %d recordings, %d tapes, %d events (%s), %d problems",
        report["n_recordings"],
        report["n_tapes"],
        len(events),
        report["n_by_role"],
        len(problems),
    )
    return index, report


def _relpath(p: Path, root: Path) -> str:
    """Paths configured as absolute stay absolute; relative ones are kept relative to the project root."""
    if Path(p).is_absolute():
        return str(p)
    try:
        return str(Path(p).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)
