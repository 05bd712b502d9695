"""acoustic_corpus: recordings + crowsetta annotations -> one corpus index (events and recordings).

Every annotation format is read by **crowsetta** (Raven selection tables, Audacity labels, the
BirdsongRecognition dataset's ``Annotation.xml``, Praat TextGrid, ...; the readers:
:mod:`ethoflow.acoustic.data.annotations`). The index is a JSON file::

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

import re
from pathlib import Path
from typing import Any

from ethoflow.acoustic.data.annotations import Problems, audio_facts, project_relpath, read_source
from ethoflow.acoustic.params import CorpusParams, SourceParams
from ethoflow.core import InputError, get_logger

log = get_logger(__name__)

END_TOLERANCE_S = 1e-3


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
    rel = project_relpath(audio, root)
    if not audio.exists():
        problems.add(
            rel,
            f"{len(evs)} annotations (from {project_relpath(evs[0]['annot'], root)}) refer to this "
            f"audio file, which does not exist",
        )
        return None
    try:
        sr, dur, nch = audio_facts(audio)
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
        where = f"{project_relpath(e['annot'], root)} row {e['row']}"
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
        raw = read_source(src, root, problems, cfg.bad_rows)
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
