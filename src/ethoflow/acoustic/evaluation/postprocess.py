"""Post-processing (``threshold``, ``min_gap_s``, ``min_dur_s``) chosen on validation tapes.

``threshold``, ``min_gap_s`` and ``min_dur_s`` may each be ``auto``; the ``auto`` ones are chosen jointly
(:func:`choose_postprocess`), on a grid (``evaluate.search``), by the mean event F1 (Hungarian matching at
``iou``) over the variant's validation tapes (role ``val``), never on test or benchmark tapes, with the
one-standard-error rule toward ``evaluate.defaults`` and a fall-back to the defaults under
``evaluate.min_val_events`` validation events; the chosen values and their validation evidence are used for
every tape and written to the metrics and to ``postprocess.json`` (which detection sets of that variant
read: :func:`detection_postprocess`). ``evaluate.min_bout_gap_s`` (a lab's shortest gap between two
events) floors the merge gap everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.evaluation.chaining import merge_intervals, window_intervals
from ethoflow.acoustic.evaluation.matching import event_intervals, match_hungarian
from ethoflow.core import InputError, ParamsError, get_logger, read_json

if TYPE_CHECKING:
    from ethoflow.acoustic.params import AcousticParams, EvaluateParams

log = get_logger(__name__)

VAL_ROLE = "val"
#: the file of an ``acoustic_evaluate`` out holding the post-processing it used (detection sets read it)
POSTPROCESS_FILE = "postprocess.json"


def _event_scores(
    recs: list[tuple[pd.DataFrame, np.ndarray]], threshold: float, min_gap_s: float, min_dur_s: float, iou: float
) -> np.ndarray:
    """Per recording ``(windows with s/e, gt (n, 2))``: rows (tp, n_pred, n_gt, summed IoU of the matches)."""
    out = np.zeros((len(recs), 4))
    for k, (w, g) in enumerate(recs):
        w = w[w.prob >= threshold]
        st, en, _ = merge_intervals(w.s.to_numpy(), w.e.to_numpy(), min_gap_s, min_dur_s)
        det = np.column_stack([np.round(np.maximum(st, 0.0), 6), np.round(en, 6)])
        pairs = match_hungarian(g, det, iou) if len(g) and len(det) else []
        out[k] = len(pairs), len(det), len(g), sum(v for _, _, v in pairs)
    return out


def _f1(tp: int, n_pred: int, n_gt: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _unit_f1(per_unit: np.ndarray) -> np.ndarray:
    """Event F1 of each unit (rows tp, n_pred, n_gt, ...); units with neither events nor detections are NaN."""
    tp, n_pred, n_gt = per_unit[:, 0], per_unit[:, 1], per_unit[:, 2]
    f1 = np.where(n_pred + n_gt > 0, 2 * tp / np.maximum(n_pred + n_gt, 1), np.nan)
    return f1


_POSTPROCESS_KEYS = ("threshold", "min_gap_s", "min_dur_s")


def _validation_units(
    pred: pd.DataFrame, gt: pd.DataFrame, val: list[str], hop_s: float, ev: EvaluateParams
) -> tuple[list[tuple[pd.DataFrame, np.ndarray]], np.ndarray, bool]:
    """The validation tapes' recordings, each as ``(windows with s/e, gt (n, 2))`` (sorted by recording),
    and the (n_units, n_recordings) 0/1 membership of recordings in units: the tapes when there are 3 or
    more, else the recordings. Returns (recordings, membership, units are tapes)."""
    p = pred[pred.tape.isin(val)]
    g = gt[gt.tape.isin(val)]
    recs, rec_names = [], sorted(set(p.recording) | set(g.recording))
    for rec in rec_names:
        w = window_intervals(p[p.recording == rec], 0.0, hop_s, ev.boundary)
        recs.append((w, g.loc[g.recording == rec, ["start_s", "end_s"]].to_numpy(float)))
    rec_tape = dict(zip(p.recording, p.tape)) | dict(zip(g.recording, g.tape))
    by_tape = len(val) >= 3
    unit_of = [rec_tape[r] if by_tape else r for r in rec_names]
    units = sorted(set(unit_of))
    member = np.array([[u == x for x in unit_of] for u in units], float).reshape(len(units), len(rec_names))
    return recs, member, by_tape


def _search_grid(ev: EvaluateParams, fixed: dict[str, float], auto: list[str]) -> dict[str, list[float]]:
    """Candidate values of each post-processing key: ``ev.search``'s (sorted, unique) for the ``auto``
    keys, the fixed value for the others; merge gaps floored by ``ev.min_bout_gap_s``."""
    grid = {k: [fixed[k]] for k in _POSTPROCESS_KEYS}
    if "threshold" in auto:
        grid["threshold"] = sorted(set(ev.search.thresholds))
    for k in ("min_gap_s", "min_dur_s"):
        if k in auto:
            grid[k] = sorted(set(getattr(ev.search, k)))
    if "min_gap_s" in auto:
        grid["min_gap_s"] = sorted({ev.merge_gap(v) for v in grid["min_gap_s"]})
    return grid


def _score_candidates(
    recs: list[tuple[pd.DataFrame, np.ndarray]],
    member: np.ndarray,
    grid: dict[str, list[float]],
    defaults: dict[str, float],
    auto: list[str],
    iou: float,
) -> list[dict[str, Any]]:
    """Score every candidate of ``grid`` (threshold, then gap, then duration order): mean, SD and SE of the
    unit event F1s, pooled F1, summed IoU of the matches, distance to ``defaults`` over the ``auto`` keys
    (each over its grid's span) and the pooled counts ``tot`` (tp, n_pred, n_gt, IoU sum)."""
    span = {k: (max(grid[k] + [defaults[k]]) - min(grid[k] + [defaults[k]])) or 1.0 for k in _POSTPROCESS_KEYS}
    cands = []
    for thr in grid["threshold"]:
        for gap in grid["min_gap_s"]:
            for dur in grid["min_dur_s"]:
                per_rec = _event_scores(recs, thr, gap, dur, iou)
                per_unit = member @ per_rec
                f1u = _unit_f1(per_unit)
                f1u = f1u[~np.isnan(f1u)]
                tot = per_rec.sum(axis=0)
                mean = float(np.mean(f1u)) if len(f1u) else 0.0
                sd = float(np.std(f1u, ddof=1)) if len(f1u) > 1 else 0.0
                vals = {"threshold": thr, "min_gap_s": gap, "min_dur_s": dur}
                dist = sum(abs(vals[k] - defaults[k]) / span[k] for k in auto)
                cands.append(
                    {
                        **vals,
                        "mean": round(mean, 12),
                        "sd": sd,
                        "se": sd / np.sqrt(len(f1u)) if len(f1u) else 0.0,
                        "n_units": len(f1u),
                        "pooled": round(_f1(*tot[:3])[2], 12),
                        "iou_sum": round(float(tot[3]), 9),
                        "dist": round(dist, 12),
                        "tot": tot,
                    }
                )
    return cands


def _pick_one_se(cands: list[dict[str, Any]], tolerance_se: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(best, pick): the best-mean candidate and, among those within ``tolerance_se`` of its standard
    errors, the nearest to the defaults (ties: higher mean, pooled F1, IoU sum; lower threshold, gap)."""
    best = max(cands, key=lambda c: (c["mean"], c["pooled"], c["iou_sum"], -c["dist"]))
    floor = best["mean"] - tolerance_se * best["se"] - 1e-12
    pick = min(
        (c for c in cands if c["mean"] >= floor),
        key=lambda c: (c["dist"], -c["mean"], -c["pooled"], -c["iou_sum"], c["threshold"], c["min_gap_s"]),
    )
    return best, pick


def _warn_uninformed(
    model: str, val: list[str], n_gt_val: int, few: bool, ev: EvaluateParams, auto: list[str], defaults: dict
) -> None:
    """Warn when the validation tapes hold no annotated call, or too few for a search (defaults taken)."""
    if not n_gt_val:
        log.warning("%s: the validation tapes %s hold no annotated call; post-processing not informed", model, val)
    elif few:
        log.warning(
            "%s: only %d annotated events on the validation tapes (acoustic.evaluate.min_val_events: %d): "
            "%s take the defaults %s instead of a search",
            model,
            n_gt_val,
            ev.min_val_events,
            ", ".join(auto),
            {k: defaults[k] for k in auto},
        )


def _postprocess_result(
    pick: dict[str, Any],
    best: dict[str, Any],
    auto: list[str],
    rule: str,
    defaults: dict[str, float],
    val: list[str],
    by_tape: bool,
) -> dict[str, Any]:
    """:func:`choose_postprocess`'s answer: the picked values and their validation scores."""
    tp, n_pred, n_gt = (int(v) for v in pick["tot"][:3])
    pr, rc, f1 = _f1(tp, n_pred, n_gt)
    return {
        "threshold": float(pick["threshold"]),
        "min_gap_s": float(pick["min_gap_s"]),
        "min_dur_s": float(pick["min_dur_s"]),
        "auto": auto,
        "rule": rule,
        "defaults": defaults,
        "val_tapes": val,
        "val_units": "tapes" if by_tape else "recordings",
        "val_n_units": pick["n_units"],
        "val_n_gt": n_gt,
        "val_tp": tp,
        "val_fp": n_pred - tp,
        "val_fn": n_gt - tp,
        "val_precision": pr,
        "val_recall": rc,
        "val_f1": f1,
        # 95% intervals of the pooled validation rates (bootstrap over validation events)
        **{f"val_{k}": v for k, v in event_intervals(tp, n_pred - tp, n_gt - tp).items() if k != "events"},
        "val_f1_mean": pick["mean"],
        "val_f1_sd": pick["sd"],
        "val_f1_se": pick["se"],
        "best_val_f1_mean": best["mean"],
        "best": {k: float(best[k]) for k in _POSTPROCESS_KEYS},
    }


def _log_choice(model: str, val: list[str], out: dict[str, Any], pick: dict[str, Any], best: dict[str, Any]) -> None:
    """Log the chosen post-processing (``out``, :func:`_postprocess_result`) and its validation scores."""
    log.info(
        "%s: on validation tapes %s (%d events) chose threshold %g, min_gap_s %g, min_dur_s %g "
        "(%s; mean F1 %.3f +- %.3f SE over %d %s; best mean %.3f)",
        model,
        val,
        out["val_n_gt"],
        out["threshold"],
        out["min_gap_s"],
        out["min_dur_s"],
        out["rule"],
        pick["mean"],
        pick["se"],
        pick["n_units"],
        out["val_units"],
        best["mean"],
    )


def choose_postprocess(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    roles: dict[str, str],
    hop_s: float,
    ev: EvaluateParams,
    model: str = "",
) -> dict[str, Any]:
    """The post-processing (threshold, min_gap_s, min_dur_s) for one model's window predictions.

    Fixed values of ``ev`` are kept; the ``auto`` ones are chosen jointly from ``ev.search`` on the
    validation tapes (``roles[tape] == "val"``) only, robustly to small validation sets:

    1. Each candidate is scored by its **mean event F1 over validation units** (Hungarian matching at
       ``ev.iou``, detections as :func:`.chaining.chain_windows` makes them). Units are the validation tapes, or
       their recordings when there are fewer than 3 tapes; a unit with neither events nor detections
       does not count.
    2. Fewer than ``ev.min_val_events`` annotated validation events: the ``auto`` keys take
       ``ev.defaults`` (a warning says so; ``rule: "defaults"``).
    3. Otherwise the one-standard-error rule (Breiman et al. 1984; Hastie et al., *Elements of
       Statistical Learning*, 7.10): among the candidates whose mean is within ``ev.tolerance_se``
       standard errors (of the best candidate's unit F1s) of the best mean, the one nearest
       ``ev.defaults`` (sum of distances, each over its grid's span); then the higher mean, pooled F1
       and summed IoU. With few events the standard error is large and the choice stays at or near the
       defaults; with many it moves to the best mean. ``tolerance_se: 0``: the best mean, ties to the
       nearest to the defaults.

    ``ev.min_bout_gap_s`` floors the merge gap (fixed, searched and default alike).

    Args:
        pred: window predictions (``tape, recording, start_s, end_s, prob``).
        gt: annotated events (``recording, tape, start_s, end_s``).
        roles: tape -> role (``train``/``val``/``test``/``benchmark``/``mixed``).
        hop_s: the prediction hop (s). model: named in errors.

    Returns:
        ``{threshold, min_gap_s, min_dur_s, auto: [keys chosen], rule, defaults, val_tapes, val_units,
        val_n_units, val_n_gt, val_tp, val_fp, val_fn, val_precision, val_recall, val_f1 (pooled),
        val_f1_mean, val_f1_sd, val_f1_se (over units), best_val_f1_mean, best (the best-mean values)}``
        (the ``val_*`` entries at the returned values; absent without validation tapes). ``rule``:
        ``fixed`` (no auto key), ``defaults`` (too few events) or ``one_se``.

    Raises:
        ParamsError: an ``auto`` key and no validation tape (e.g. a ``random`` split, whose tapes are
            ``mixed``), naming the key.
    """
    auto = ev.auto_keys()
    val = sorted(t for t, r in roles.items() if r == VAL_ROLE)
    fixed = {k: getattr(ev, k) for k in _POSTPROCESS_KEYS}
    defaults = ev.defaults.model_dump()
    defaults["min_gap_s"] = ev.merge_gap(defaults["min_gap_s"])
    if "min_gap_s" not in auto:
        fixed["min_gap_s"] = ev.merge_gap(fixed["min_gap_s"])
    if not val:
        if auto:
            raise ParamsError(
                f"acoustic.evaluate.{auto[0]}: auto is chosen on validation tapes, and {model or 'the model'}'s "
                f"variant has none (tape roles: {sorted(set(roles.values()))}); use a tape_exclusive split or "
                "set a number"
            )
        return {**fixed, "auto": [], "rule": "fixed"}
    recs, member, by_tape = _validation_units(pred, gt, val, hop_s, ev)
    grid = _search_grid(ev, fixed, auto)
    n_gt_val = int(sum(len(x) for _, x in recs))
    few = bool(auto) and n_gt_val < ev.min_val_events
    if few:  # score the defaults only
        grid = {k: [defaults[k]] if k in auto else grid[k] for k in _POSTPROCESS_KEYS}
    cands = _score_candidates(recs, member, grid, defaults, auto, ev.iou)
    best, pick = _pick_one_se(cands, ev.tolerance_se)
    rule = "fixed" if not auto else ("defaults" if few else "one_se")
    _warn_uninformed(model, val, n_gt_val, few, ev, auto, defaults)
    out = _postprocess_result(pick, best, auto, rule, defaults, val, by_tape)
    if auto:
        _log_choice(model, val, out, pick, best)
    return out


def read_postprocess(path: str | Path) -> dict[str, Any]:
    """Read an evaluation's ``postprocess.json`` (:func:`choose_postprocess`'s result).

    Raises:
        InputError: missing file (run ``acoustic_evaluate`` first) or a file without the three values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing; run acoustic_evaluate for this variant and setting first")
    post = read_json(path)
    missing = [k for k in ("threshold", "min_gap_s", "min_dur_s", "auto") if k not in post]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} (not written by acoustic_evaluate?)")
    return post


def detection_postprocess(
    cfg: AcousticParams, name: str, evaluations: str | Path | None, params_path: str = "params.yaml"
) -> dict[str, Any]:
    """Threshold and clean-up of detection set ``name``: its own ``threshold`` (``null``:
    ``acoustic.evaluate.threshold``) and ``acoustic.evaluate``'s ``min_gap_s``/``min_dur_s``; each one that is
    ``auto`` is the value ``acoustic_evaluate`` chose on the model variant's validation tapes
    (``<evaluations>/<variant>-<setting>/postprocess.json``).

    Returns ``{threshold, min_gap_s, min_dur_s, from}`` (``from``: the postprocess.json read, or None).

    Raises:
        ParamsError: an ``auto`` for a set whose model is a file (no validation tapes), or whose variant's
            evaluation did not choose that value (naming the key). InputError: postprocess.json missing.
    """
    ds = cfg.detect.sets[name]
    ev = cfg.evaluate
    want = {
        "threshold": ev.threshold if ds.threshold is None else ds.threshold,
        "min_gap_s": ev.min_gap_s,
        "min_dur_s": ev.min_dur_s,
    }
    auto = [k for k, v in want.items() if v == "auto"]
    if not auto:
        out = {k: float(v) for k, v in want.items()}
        return {**out, "min_gap_s": ev.merge_gap(out["min_gap_s"]), "from": None}
    key = {
        k: (
            f"acoustic.detect.sets.{name}.threshold"
            if k == "threshold" and ds.threshold is not None
            else f"acoustic.evaluate.{k}"
        )
        for k in auto
    }
    if ds.model not in cfg.variants:
        raise ParamsError(
            f"{params_path}: {key[auto[0]]}: auto uses the value chosen on a trained variant's validation tapes, "
            f"and the model of detection set {name!r} is the file {ds.model!r}, which has none: set a number"
        )
    if evaluations is None:
        raise ParamsError(f"{params_path}: {key[auto[0]]}: auto needs acoustic_evaluate's outs (--evaluations)")
    path = Path(evaluations) / f"{ds.model}-{ds.setting}" / POSTPROCESS_FILE
    post = read_postprocess(path)
    for k in auto:
        if k not in post["auto"]:
            raise ParamsError(
                f"{params_path}: {key[k]}: auto reads the value acoustic_evaluate@{ds.model}-{ds.setting} chose on "
                f"validation tapes, but acoustic.evaluate.{k} is fixed there ({post[k]}): set "
                f"acoustic.evaluate.{k}: auto, or a number"
            )
    out = {k: float(post[k]) if k in auto else float(want[k]) for k in want}
    return {**out, "min_gap_s": ev.merge_gap(out["min_gap_s"]), "from": str(path)}
