"""acoustic_variants: one training dataset per variant (split strategy, noise mining, tables).

Outputs in the variant's folder::

    train.csv, val.csv, test.csv   one row per segment: uid, split, kind (target|noise), label, tape,
                                   recording, file, start_s, end_s, quality, source_uid
    variant_index.json             counts, tapes per split, tape roles, noise-mining statistics
    selections/<recording>.Table.1.selections.txt   Raven selection tables (targets and mined noise)
    spectrograms/<split>_<uid>.png optional examples

Split strategies: ``tape_exclusive`` assigns whole tapes to train/val/test (no tape in two splits);
``random`` shuffles events; ``quality_balanced`` shuffles within each quality level so every split
has the same quality mix (these two may share a tape across splits, by design). ``benchmark_tapes``
are held out of every split.

Noise mining (for each target: ``floor(noise_per_target)`` segments plus one more with probability
equal to the fractional part): segments of the target's duration clipped to ``[noise_min_s,
noise_max_s]`` are drawn uniformly
from the gaps of the same recording that keep ``margin_s`` from **every** annotated event (targets,
annotated noise, ignored labels) and do not overlap noise already mined; when the recording has no
such gap, other recordings of the same tape are tried (``fallback``), never another tape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.data.annotations import RAVEN_COLUMNS
from ethoflow.acoustic.params import VariantParams
from ethoflow.acoustic.records import VariantIndex
from ethoflow.core import InputError, atomic_write_text, get_logger, write_record
from ethoflow.core.io import atomic_dir

log = get_logger(__name__)

SPLITS = ("train", "val", "test")
COLUMNS = ["uid", "split", "kind", "label", "tape", "recording", "file", "start_s", "end_s", "quality", "source_uid"]


def free_gaps(duration_s: float, occupied: list[tuple[float, float]], margin_s: float) -> list[tuple[float, float]]:
    """Intervals of ``[0, duration_s]`` at least ``margin_s`` away from every occupied interval.

    Args:
        duration_s: recording length (seconds). occupied: (start_s, end_s) intervals (any order, may overlap).
        margin_s: distance kept from each occupied interval (seconds).
    Returns:
        Sorted, disjoint (start_s, end_s) gaps of positive length.
    """
    blocked = sorted((max(0.0, a - margin_s), min(duration_s, b + margin_s)) for a, b in occupied)
    gaps, t = [], 0.0
    for a, b in blocked:
        if a > t:
            gaps.append((t, a))
        t = max(t, b)
    if t < duration_s:
        gaps.append((t, duration_s))
    return [(a, b) for a, b in gaps if b > a]


def draw_segment(
    rng: np.random.Generator, gaps: list[tuple[float, float]], length_s: float
) -> tuple[float, float] | None:
    """A segment of ``length_s`` uniformly placed in the gaps that can hold it (None when none can)."""
    room = np.array([max(0.0, (b - a) - length_s) for a, b in gaps])
    fits = [i for i, (a, b) in enumerate(gaps) if b - a >= length_s]
    if not fits:
        return None
    w = room[fits] + 1e-9
    i = fits[int(rng.choice(len(fits), p=w / w.sum()))]
    a, b = gaps[i]
    start = a + rng.uniform(0, max(0.0, (b - a) - length_s))
    return float(start), float(start + length_s)


def _split_counts(n: int, fr: dict[str, float]) -> dict[str, int]:
    # fractions sum to 1 (SplitFractions refuses anything else: no renormalisation here)
    counts = {s: int(round(fr[s] * n)) for s in ("val", "test")}
    for s in ("val", "test"):  # a requested split gets at least one item when possible
        if fr[s] > 0 and counts[s] == 0 and n >= 3:
            counts[s] = 1
    counts["train"] = n - counts["val"] - counts["test"]
    if counts["train"] < 0 or (fr["train"] > 0 and counts["train"] == 0 and n >= 1):
        counts["train"] = max(n - counts["val"] - counts["test"], 0)
    return counts


def _assign(items: list[Any], rng: np.random.Generator, fr: dict[str, float]) -> dict[Any, str]:
    order = [items[i] for i in rng.permutation(len(items))]
    c = _split_counts(len(order), fr)
    out, k = {}, 0
    for s in ("test", "val", "train"):
        for it in order[k : k + c[s]]:
            out[it] = s
        k += c[s]
    return out


def split_events(
    targets: list[dict], tapes: list[str], spec: VariantParams, rng: np.random.Generator
) -> tuple[dict[str, str], dict[str, str]]:
    """Assign splits. Returns (uid -> split, tape -> role) (roles: train/val/test, ``mixed``).

    Raises:
        InputError: an unknown split strategy.
    """
    fr = spec.fractions.model_dump()
    if spec.split == "tape_exclusive":
        tape_split = _assign(sorted(tapes), rng, fr)
        return {e["uid"]: tape_split[e["tape"]] for e in targets}, dict(tape_split)
    if spec.split == "random":
        by_uid = _assign([e["uid"] for e in targets], rng, fr)
    elif spec.split == "quality_balanced":
        by_uid = {}
        levels = sorted({str(e["quality"]) for e in targets})
        for q in levels:
            by_uid.update(_assign([e["uid"] for e in targets if str(e["quality"]) == q], rng, fr))
    else:  # pragma: no cover - params validation forbids it
        raise InputError(f"unknown split strategy {spec.split!r}")
    roles: dict[str, str] = {}
    for e in targets:
        s = by_uid[e["uid"]]
        roles[e["tape"]] = s if roles.get(e["tape"], s) == s else "mixed"
    for t in tapes:
        roles.setdefault(t, "train")
    return by_uid, roles


def _check_variant(index: dict[str, Any], spec: VariantParams, all_tapes: list[str]) -> list[str]:
    """The variant's classes (``spec.classes``, or all the corpus's).

    Raises:
        InputError: benchmark tapes or classes that the corpus does not have.
    """
    unknown = sorted(set(spec.benchmark_tapes) - set(all_tapes))
    if unknown:
        raise InputError(f"benchmark_tapes not in the corpus: {unknown} (tapes: {all_tapes[:20]})")
    classes = spec.classes or index["classes"]
    bad = sorted(set(classes) - set(index["classes"]))
    if bad:
        raise InputError(f"classes {bad} are not in the corpus (classes: {index['classes']})")
    return classes


def _event_row(e: dict[str, Any], split: str, kind: str, label: str) -> dict[str, Any]:
    """A segment row (:data:`COLUMNS`) for an annotated event ``e`` (a target, or annotated noise)."""
    return dict(
        uid=e["uid"],
        split=split,
        kind=kind,
        label=label,
        tape=e["tape"],
        recording=e["recording"],
        file=e["file"],
        start_s=e["start_s"],
        end_s=e["end_s"],
        quality=e["quality"],
        source_uid="",
    )


class _NoiseMiner:
    """Draws noise segments for targets (see the module docstring) from the gaps of each recording that
    keep ``margin_s`` from every annotated event and miss the noise already mined, trying the target's
    recording first and then the other recordings of its tape; counts fallbacks and failures."""

    def __init__(self, recs: dict[str, dict[str, Any]], events: list[dict], margin_s: float, rng: np.random.Generator):
        self.recs, self.margin_s, self.rng = recs, margin_s, rng
        self.occupied: dict[str, list[tuple[float, float]]] = {r: [] for r in recs}
        for e in events:  # every annotated event, whatever its role or label
            self.occupied[e["recording"]].append((e["start_s"], e["end_s"]))
        self.mined: dict[str, list[tuple[float, float]]] = {r: [] for r in recs}
        self.recs_of_tape: dict[str, list[str]] = {}
        for r in sorted(recs):
            self.recs_of_tape.setdefault(recs[r]["tape"], []).append(r)
        self.n_fallback = self.n_unavailable = 0

    def mine(self, e: dict[str, Any], split: str, k: int, length: float) -> list[dict[str, Any]]:
        """Up to ``k`` noise rows of ``length`` s for target ``e`` (uids ``<uid>~n<j>``), in split ``split``."""
        recs, rows = self.recs, []
        for j in range(k):
            candidates = [e["recording"]] + [r for r in self.recs_of_tape[e["tape"]] if r != e["recording"]]
            seg, used = None, None
            for r in candidates:
                gaps = free_gaps(recs[r]["duration_s"], self.occupied[r], self.margin_s)
                gaps = _subtract(gaps, self.mined[r])
                seg = draw_segment(self.rng, gaps, length)
                if seg is not None:
                    used = r
                    break
            if seg is None:
                self.n_unavailable += 1
                continue
            self.n_fallback += used != e["recording"]
            self.mined[used].append(seg)
            rows.append(
                dict(
                    uid=f"{e['uid']}~n{j + 1}",
                    split=split,
                    kind="noise",
                    label="noise",
                    tape=e["tape"],
                    recording=used,
                    file=recs[used]["file"],
                    start_s=round(seg[0], 6),
                    end_s=round(seg[1], 6),
                    quality=None,
                    source_uid=e["uid"],
                )
            )
        return rows


def _variant_index(
    df: pd.DataFrame,
    spec: VariantParams,
    classes: list[str],
    roles: dict[str, str],
    recs: dict[str, dict[str, Any]],
    noise_min: float,
    miner: _NoiseMiner,
) -> VariantIndex:
    """``variant_index.json``'s record: counts per split, tape roles, noise-mining statistics, recordings."""
    counts = {
        s: {
            "n": int((df.split == s).sum()),
            "by_label": {k: int(v) for k, v in sorted(df[df.split == s].label.value_counts().items())},
            "tapes": sorted(df[df.split == s].tape.unique().tolist()),
        }
        for s in SPLITS
    }
    return VariantIndex(
        strategy=spec.split,
        seed=spec.seed,
        classes=list(classes),
        counts=counts,
        tape_roles=dict(sorted(roles.items())),
        noise={
            "per_target": spec.noise_per_target,
            "margin_s": spec.margin_s,
            "min_len_s": noise_min,
            "max_len_s": spec.noise_max_s,
            "n_mined": int(((df.kind == "noise") & (df.source_uid != "")).sum()),
            "n_from_other_recording": miner.n_fallback,
            "n_unavailable": miner.n_unavailable,
        },
        recordings=[
            {k: recs[r][k] for k in ("recording", "tape", "file", "sr", "duration_s")}
            | {"role": roles[recs[r]["tape"]]}
            for r in sorted(recs)
        ],
    )


def build_variant(index: dict[str, Any], spec: VariantParams, seq_len_s: float) -> tuple[pd.DataFrame, VariantIndex]:
    """Build one variant's segment table and index from the corpus ``index``.

    Returns:
        (rows DataFrame with :data:`COLUMNS`, the ``variant_index.json`` record
        (:class:`~ethoflow.acoustic.records.VariantIndex`)).
    Raises:
        InputError: unknown benchmark tapes or classes, or no target left for training.
    """
    rng = np.random.default_rng(spec.seed)
    recs = {r["recording"]: r for r in index["recordings"]}
    all_tapes = sorted({r["tape"] for r in recs.values()})
    classes = _check_variant(index, spec, all_tapes)
    bench = set(spec.benchmark_tapes)
    events = index["events"]
    targets = [e for e in events if e["role"] == "target" and e["label"] in classes and e["tape"] not in bench]
    annotated_noise = [e for e in events if e["role"] == "noise" and e["tape"] not in bench]
    if not targets:
        raise InputError("no target events left for this variant (check classes and benchmark_tapes)")
    tapes = [t for t in all_tapes if t not in bench]
    split_of, roles = split_events(targets, tapes, spec, rng)
    for t in bench:
        roles[t] = "benchmark"
    miner = _NoiseMiner(recs, events, spec.margin_s, rng)
    noise_min = spec.noise_min_s or seq_len_s

    rows: list[dict[str, Any]] = []
    for e in targets:
        split = split_of[e["uid"]]
        rows.append(_event_row(e, split, "target", e["label"]))
        base = int(np.floor(spec.noise_per_target))
        k = base + int(rng.random() < spec.noise_per_target - base)
        length = max(e["end_s"] - e["start_s"], noise_min)
        if spec.noise_max_s is not None:
            length = max(min(length, spec.noise_max_s), noise_min)
        rows.extend(miner.mine(e, split, k, length))
    for e in annotated_noise:  # annotated non-target sounds: noise examples in their tape's split
        role = roles.get(e["tape"])
        split = role if role in SPLITS else SPLITS[int(rng.integers(3))]
        rows.append(_event_row(e, split, "noise", "noise"))
    df = pd.DataFrame(rows, columns=COLUMNS).sort_values(["split", "recording", "start_s", "uid"], kind="stable")
    df = df.reset_index(drop=True)
    vindex = _variant_index(df, spec, classes, roles, recs, noise_min, miner)
    if miner.n_unavailable:
        log.warning(
            "variant: %d noise segments could not be mined (no gap of the needed length in the tape)",
            miner.n_unavailable,
        )
    return df, vindex


def _subtract(gaps: list[tuple[float, float]], used: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = []
    for a, b in gaps:
        pieces = [(a, b)]
        for u0, u1 in used:
            nxt = []
            for p0, p1 in pieces:
                if u1 <= p0 or u0 >= p1:
                    nxt.append((p0, p1))
                    continue
                if u0 > p0:
                    nxt.append((p0, u0))
                if u1 < p1:
                    nxt.append((u1, p1))
            pieces = nxt
        out.extend(pieces)
    return [(a, b) for a, b in out if b > a]


def raven_selection_table(df: pd.DataFrame, extra: list[str] | None = None) -> str:
    """Raven Pro selection table text for segments (``start_s``, ``end_s``, ``label`` [+ ``extra`` columns])."""
    extra = extra or []
    header = [*RAVEN_COLUMNS, *extra]
    lines = ["\t".join(header)]
    for k, r in enumerate(df.itertuples(index=False), 1):
        d = r._asdict()
        lo = d.get("low_hz")
        hi = d.get("high_hz")
        vals = [
            str(k),
            "Spectrogram 1",
            "1",
            f"{d['start_s']:.6f}",
            f"{d['end_s']:.6f}",
            f"{lo:.1f}" if lo is not None and lo == lo else "0.0",
            f"{hi:.1f}" if hi is not None and hi == hi else "0.0",
            str(d["label"]),
        ]
        for c in extra:
            v = d[c]
            vals.append(f"{v:.6f}" if isinstance(v, float) else str(v))
        lines.append("\t".join(vals))
    return "\n".join(lines) + "\n"


def write_tables(df: pd.DataFrame, folder: Path, recordings: list[str], extra: list[str] | None = None) -> None:
    """One Raven selection table per recording (empty tables for recordings without rows)."""
    for rec in recordings:
        sub = df[df.recording == rec].sort_values(["start_s", "end_s"], kind="stable")
        atomic_write_text(folder / f"{rec}.Table.1.selections.txt", raven_selection_table(sub, extra))


def write_variant(
    out: str | Path,
    df: pd.DataFrame,
    vindex: VariantIndex,
    index: dict[str, Any],
    n_pngs: int = 0,
    features: Any = None,
    seed: int = 0,
) -> None:
    """Write CSVs, ``variant_index.json`` (the record ``vindex``, read back by
    :func:`~ethoflow.acoustic.records.read_variant_index`), selection tables and optional spectrogram PNGs
    into ``out``, all-or-nothing (a failure leaves the previous folder as it was)."""

    # annotated events keep their Low/High Freq in the tables (mined noise has none: 0.0, as Raven)
    band = {e["uid"]: (e.get("low_hz"), e.get("high_hz")) for e in index["events"]}
    tab = df.assign(
        low_hz=[band.get(u, (None, None))[0] for u in df.uid], high_hz=[band.get(u, (None, None))[1] for u in df.uid]
    )
    with atomic_dir(out) as tmp:  # all-or-nothing: the folder appears only when every file is written
        for s in SPLITS:
            df[df.split == s].to_csv(tmp / f"{s}.csv", index=False, float_format="%.6f", lineterminator="\n")
        write_record(tmp / "variant_index.json", vindex)
        write_tables(tab, tmp / "selections", [r["recording"] for r in index["recordings"]], extra=["split", "kind"])
        if n_pngs and features is not None:
            # local: imported only on the branch that needs it
            from ethoflow.acoustic.reporting.plots import segment_pngs

            segment_pngs(df, tmp / "spectrograms", features, n_pngs, seed)
