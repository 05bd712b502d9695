"""The kappa maths: the search for the kappa that puts the median syllable duration in a target window.

Keypoint-MoSeq's stickiness hyperparameter kappa sets how long syllables last: the median syllable
duration grows monotonically (up to sampling noise) with kappa (Wiltschko et al. 2015; Weinreb et al.
2024, Nat. Methods). Its scale depends on the data, so kappa is searched in log10(kappa).

This module is pure Python (no jax, no keypoint-moseq, no files read): the search state record, the
proposal rules (:func:`next_round`), the status after each round (:func:`update_status`) and the final
model's outcome (:func:`final_outcome`). The resumable loop that runs it against an objective callable
and keeps the state file (:func:`ethoflow.moseq.kappa.run_search`, ``load_or_new``, ``read_state``) is
:mod:`ethoflow.moseq.kappa`, which calls this module and is never called back, so the search logic is
unit-testable with a synthetic ``duration(kappa)``.

Methods (``x = log10 kappa``, ``f(x) = ln(median duration) - ln(target centre)``, target centre the
geometric mean of the window):

- ``bisection``: halve the bracket ``[x_lo, x_hi]`` (largest x known too short, smallest x known too
  long; the range bounds until measured). The baseline.
- ``secant``: a safeguarded secant on all the measured (x, f) pairs. A line through them: its
  slope is the least-squares slope of every non-saturated trial, shrunk towards a prior slope
  (trials close together mostly measure the integer median's noise); its root is the average of
  the roots each trial predicts along that slope, weighted towards trials near the target. Steps
  of at most ``MAX_STEP`` decades; a root beyond an untried range bound probes that bound (still
  on the wrong side: the target is unreachable). ``f`` is capped at +-``F_CAP`` (saturated
  durations). Safeguards (Dekker/Brent style): a candidate must lie inside the bracket, at least
  ``RESOLUTION`` decades (or a quarter of the bracket) from its ends, and the bracket must halve
  every three trials; otherwise bisection. A bracket narrower than ``MIN_BRACKET`` with no hit
  means the duration jumps across the window: the search stops with the closest trial.

State (one JSON file, written atomically after every trial): method, target window (frames), range,
the current bracket, every trial (index, log10 kappa, kappa, median duration, checkpoint name), the
round in flight (``pending``), status (``running``, ``found``, ``at_bound``, ``unreachable``,
``max_trials``; after the final fit also ``drifted``, see :func:`final_outcome`), the chosen trial,
and a ``fingerprint`` of the inputs: a state with another fingerprint is stale and
the search starts afresh. Proposals depend only on the recorded trials, so a killed search
restarted from its state file proposes the same kappas and ends at the same answer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import Field

from ethoflow.core.errors import EthoflowError
from ethoflow.core.io import write_json
from ethoflow.core.logging import get_logger
from ethoflow.core.records import Record, validate_record

log = get_logger(__name__)

STATE_VERSION = 3  # 3: status of the final model (drifted, at_bound); 2: secant on a line fitted
# to all trials (1: Illinois regula falsi)
#: statuses whose chosen trial has its median duration inside the window.
HIT_STATUSES = ("found", "at_bound")
#: prior slope d ln(duration) / d log10(kappa) used while only one point is measured (measured:
#: 0.35 on the demo data, 0.15-0.26 on the SLEAP flies).
PRIOR_SLOPE = 0.3
#: weight of the prior slope, in decades^2 of trial spread (see :func:`_slope`).
PRIOR_WEIGHT = 2.0
#: smallest slope used (duration must rise with kappa).
MIN_SLOPE = 0.05
#: largest step (decades).
MAX_STEP = 4.0
#: cap of |ln(duration / target centre)| used in the interpolation (saturated durations).
F_CAP = math.log(8.0)
#: a bracket narrower than this (decades, kappa within 5%) with no hit ends the search: the
#: duration jumps across the window there.
MIN_BRACKET = 0.02
#: spread (ln units) of a trial's duration around the fitted line, used to weight root estimates.
ROOT_NOISE = 0.1
#: candidates keep this far (decades) from the bracket ends while the bracket is wide.
RESOLUTION = 0.1


class SearchError(EthoflowError):
    """The kappa search cannot go on (unreachable target with ``on_unreachable='error'``, bad state)."""


class Trial(Record):
    """One fit at one kappa.

    Attributes:
        index: trial number (0-based, in the order proposed).
        log10_kappa: the searched coordinate.
        kappa: ``10 ** log10_kappa``.
        duration: median syllable duration in frames (``None`` while the trial is pending).
        checkpoint: the trial's checkpoint (model) name.
        why: which rule proposed it (``start``, ``secant ...``, ``bisection ...``, ``probe ... bound``).
    """

    index: int
    log10_kappa: float
    kappa: float
    duration: float | None = None
    checkpoint: str = ""
    why: str = ""


class SearchState(Record):
    """The whole state of one search, the record in ``search_state.json`` (see the module docstring).

    Attributes:
        method: ``secant`` or ``bisection``.
        target: (low, high) window of the median syllable duration, frames.
        bounds: (low, high) search range, log10 kappa.
        start: first log10 kappa tried.
        max_trials: most fits.
        per_round: kappas proposed at once.
        fingerprint: hash of the inputs and params the trials depend on.
        bracket: (x_lo, x_hi), log10 kappa: largest measured too short, smallest measured too long.
        trials: the measured trials, in order; pending: the round in flight.
        status: ``running``, ``found``, ``at_bound``, ``unreachable``, ``max_trials`` (after the
            final fit also ``drifted``; see :func:`final_outcome`).
        chosen: index of the trial the final model continues from.
        message: the outcome in words.
        extra: what the stage records beside the search (``end_iter``, ``complete``, ``kappa``,
            ``search_status``, ``trial_duration``, ``final_duration``, ``at_bound``, ...).
        version: :data:`STATE_VERSION` of the writer; a state of another version is discarded.
    """

    method: str
    target: tuple[float, float]
    bounds: tuple[float, float]
    start: float
    max_trials: int
    per_round: int = 1
    fingerprint: str = ""
    bracket: tuple[float, float] = (0.0, 0.0)
    trials: list[Trial] = Field(default_factory=list)
    pending: list[Trial] = Field(default_factory=list)
    status: str = "running"
    chosen: int | None = None
    message: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)
    version: int = STATE_VERSION

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """The state as plain JSON types (tuples as lists)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "search state") -> SearchState:
        """The state validated from ``data`` (``source`` names it in the error).

        Raises:
            InputError: a missing or mistyped key (``source`` and the key named).
        """
        return validate_record(data, cls, source)

    def save(self, path: str | Path) -> None:
        """Write the state atomically (temp file + rename)."""
        write_json(path, self.to_dict())

    # ------------------------------------------------------------------ queries
    @property
    def done(self) -> bool:
        return self.status != "running"

    @property
    def centre(self) -> float:
        """ln of the target centre (geometric mean of the window), frames."""
        return 0.5 * (math.log(self.target[0]) + math.log(self.target[1]))

    def side(self, duration: float) -> int:
        """-1: shorter than the window, 0: inside, +1: longer."""
        if duration < self.target[0]:
            return -1
        if duration > self.target[1]:
            return 1
        return 0

    def f(self, trial: Trial) -> float:
        return math.log(max(trial.duration, 1e-9)) - self.centre

    def best(self) -> Trial | None:
        """The measured trial closest to the window (in log duration); in-window trials first,
        then the one nearest the centre; ties by index."""
        measured = [t for t in self.trials if t.duration is not None]
        if not measured:
            return None
        return min(measured, key=lambda t: (self.side(t.duration) != 0, abs(self.f(t)), t.index))


def new_state(
    method: str,
    target_frames: tuple[float, float],
    bounds_log10: tuple[float, float],
    max_trials: int,
    start_log10: float | None = None,
    per_round: int = 1,
    fingerprint: str = "",
) -> SearchState:
    """A fresh search state.

    Args:
        method: ``"secant"`` or ``"bisection"``.
        target_frames: (low, high) median syllable duration window in frames.
        bounds_log10: (low, high) search range in log10(kappa).
        max_trials: most trials (fits).
        start_log10: first kappa to try (default: the middle of the range).
        per_round: kappas proposed at once (run as one job array).
        fingerprint: identifies the inputs; a saved state with another one is stale.

    Raises:
        SearchError: bad method, window or range.
    """
    if method not in ("secant", "bisection"):
        raise SearchError(f"unknown kappa search method {method!r}; use 'secant' or 'bisection'")
    lo, hi = (float(v) for v in target_frames)
    if not 0 < lo < hi:
        raise SearchError(f"target window must be 0 < low < high frames, got {[lo, hi]}")
    a, b = (float(v) for v in bounds_log10)
    if not a < b:
        raise SearchError(f"kappa range must be low < high in log10, got {[a, b]}")
    start = 0.5 * (a + b) if start_log10 is None else min(max(float(start_log10), a), b)
    return SearchState(
        method=method,
        target=(lo, hi),
        bounds=(a, b),
        start=start,
        max_trials=int(max_trials),
        per_round=int(per_round),
        fingerprint=fingerprint,
        bracket=(a, b),
    )


# ---------------------------------------------------------------------- proposals
def _bracket(state: SearchState, upto: int | None = None) -> tuple[float, float]:
    """(x_lo, x_hi): largest x measured too short (else lower bound), smallest measured too long
    (else upper bound), from the first ``upto`` trials (all by default)."""
    a, b = state.bounds
    x_lo, x_hi = a, b
    for t in state.trials[:upto]:
        s = state.side(t.duration)
        if s < 0:
            x_lo = max(x_lo, t.log10_kappa)
        elif s > 0:
            x_hi = min(x_hi, t.log10_kappa)
    return x_lo, x_hi


def _tried(state: SearchState, x: float, tol: float = 1e-9) -> bool:
    return any(abs(t.log10_kappa - x) <= tol for t in (*state.trials, *state.pending))


def _fc(state: SearchState, t: Trial) -> float:
    """``f`` clipped to +-F_CAP: a saturated duration (one syllable per session at huge kappa) must
    not drag the interpolation towards its side."""
    return max(-F_CAP, min(F_CAP, state.f(t)))


def _slope(state: SearchState) -> float:
    """Slope d f / d x (ln-duration per decade of kappa) fitted on every measured trial.

    Least squares on the trials whose duration is not saturated (``|f| < F_CAP``), shrunk towards
    ``PRIOR_SLOPE`` with the weight of ``PRIOR_WEIGHT`` decades^2 of spread: trials close together
    (where the integer median's noise dominates the local secant) barely move the prior; trials
    decades apart set the slope. Never below ``MIN_SLOPE`` (duration rises with kappa).
    """
    pts = [(t.log10_kappa, state.f(t)) for t in state.trials if abs(state.f(t)) < F_CAP]
    sxx = sxy = 0.0
    if len(pts) >= 2:
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        sxy = sum((x - mx) * (y - my) for x, y in pts)
    return max(MIN_SLOPE, (sxy + PRIOR_WEIGHT * PRIOR_SLOPE) / (sxx + PRIOR_WEIGHT))


def duration_slope(state: SearchState) -> float:
    """The search's duration-vs-kappa line: its slope, d ln(median duration) / d log10(kappa), fitted
    on every measured trial (:func:`_slope`: least squares shrunk towards ``PRIOR_SLOPE``, at least
    ``MIN_SLOPE``)."""
    return _slope(state)


def _root_estimate(state: SearchState, slope: float) -> float:
    """Where the fitted line reaches the target centre: each trial ``i`` predicts the root
    ``x_i - f_i / slope``; the prediction is the average of those, weighted by
    ``1 / (f_i^2 + ROOT_NOISE^2)`` (a trial near the target extrapolates least, so its slope error
    matters least; ``ROOT_NOISE`` stands for the integer median's own noise)."""
    num = den = 0.0
    for t in state.trials:
        fc = _fc(state, t)
        w = 1.0 / (fc * fc + ROOT_NOISE * ROOT_NOISE)
        num += w * (t.log10_kappa - fc / slope)
        den += w
    return num / den


def _secant_candidate(state: SearchState, x_lo: float, x_hi: float) -> tuple[float | None, str]:
    """The next kappa of the secant method, or None with the reason to bisect instead.

    The root of the line fitted to all trials (:func:`_slope`, :func:`_root_estimate`), at most
    ``MAX_STEP`` decades from the trial nearest the target and at least ``RESOLUTION`` decades (or
    a quarter of the bracket) inside the bracket. Safeguards: a root beyond an untried range bound
    probes that bound (unreachable target); a root outside the bracket, or a bracket that has not
    halved in three trials, means bisection.
    """
    trials = state.trials
    if not trials:
        return state.start, "start"
    widths = [_bracket(state, k)[1] - _bracket(state, k)[0] for k in range(1, len(trials) + 1)]
    if len(widths) >= 4 and widths[-1] > 0.5 * widths[-4]:
        return None, "bracket shrinking too slowly"
    a, b = state.bounds
    slope = _slope(state)
    p = min(trials, key=lambda t: (abs(state.f(t)), t.index))
    x = max(p.log10_kappa - MAX_STEP, min(p.log10_kappa + MAX_STEP, _root_estimate(state, slope)))
    why = f"secant (fitted slope {slope:.3g} per decade)"
    if x <= x_lo:
        if x_lo == a and not _tried(state, a):
            return a, "probe lower bound"
        return None, "root below bracket"
    if x >= x_hi:
        if x_hi == b and not _tried(state, b):
            return b, "probe upper bound"
        return None, "root above bracket"
    # keep away from the bracket ends: a kappa next to a measured one mostly re-measures noise
    w = x_hi - x_lo
    margin = max(0.02 * w, min(RESOLUTION, 0.25 * w))
    return min(max(x, x_lo + margin), x_hi - margin), why


def propose(state: SearchState) -> list[float]:
    """The next round of log10 kappas to try (at most ``per_round``; empty when done).

    Deterministic: depends only on the recorded trials.
    """
    if state.done:
        return []
    return [x for x, _ in next_round(state)]


def next_round(state: SearchState) -> list[tuple[float, str]]:
    """The next round: (log10 kappa, the rule that proposed it) pairs, at most ``per_round`` and the
    trials left (empty: nothing left to try). Deterministic: depends only on the recorded trials."""
    x_lo, x_hi = _bracket(state)
    room = state.max_trials - len(state.trials)
    return _proposals(state, x_lo, x_hi, max(0, min(state.per_round, room)))


def _proposals(state: SearchState, x_lo: float, x_hi: float, n: int) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    if n <= 0:
        return out
    if not state.trials:
        out.append((state.start, "start"))
    elif state.method == "secant":
        x, why = _secant_candidate(state, x_lo, x_hi)
        if x is not None and not _tried(state, x):
            out.append((x, why))
    # fill the round with k-section points of the bracket (plain bisection when per_round == 1)
    m = n - len(out)
    if m > 0:
        reason = "bisection" if state.method == "bisection" else "bisection (safeguard)"
        for i in range(1, m + 1):
            p = x_lo + (x_hi - x_lo) * i / (m + 1)
            if not _tried(state, p) and all(abs(p - o) > 1e-9 for o, _ in out):
                out.append((p, reason))
    return [(float(round(x, 12)), why) for x, why in out[:n]]


def update_status(state: SearchState) -> None:
    """Recompute bracket, status, chosen trial and message after trials were recorded."""
    x_lo, x_hi = _bracket(state)
    state.bracket = (x_lo, x_hi)
    if not state.trials:
        return
    hits = [t for t in state.trials if state.side(t.duration) == 0]
    a, b = state.bounds
    if hits:
        best = state.best()
        state.status, state.chosen = "found", best.index
        state.message = (
            f"median duration {best.duration:.3g} frames at kappa {best.kappa:.4g} is inside "
            f"[{state.target[0]:.3g}, {state.target[1]:.3g}] after {len(state.trials)} fits"
        )
        bound = at_bound(state, best)
        if bound is not None:
            state.status = "at_bound"
            state.message += (
                f", at the {bound} bound of the kappa range (10^{best.log10_kappa:g}): the window may "
                f"extend beyond it; widen kappa_log10_range"
            )
        return
    # a measured range bound still on the wrong side proves the target unreachable
    # (bound, wrong side there, words): still too short at the largest kappa, too long at the smallest
    wrong_at_bound = ((b, -1, "only", "largest", "lower"), (a, 1, "already", "smallest", "raise"))
    for t in state.trials:
        s = state.side(t.duration)
        for bound, wrong, still, end, fix in wrong_at_bound:
            if abs(t.log10_kappa - bound) < 1e-9 and s == wrong:
                state.status, state.chosen = "unreachable", t.index
                state.message = (
                    f"target {state.target[0]:.3g}-{state.target[1]:.3g} frames unreachable: median duration "
                    f"is {still} {t.duration:.3g} frames at the {end} kappa 10^{bound:g}; widen the range or "
                    f"{fix} the target"
                )
                return
    if x_hi - x_lo < MIN_BRACKET:
        best = state.best()
        state.status, state.chosen = "unreachable", best.index
        if x_hi == b or x_lo == a:
            state.message = (
                f"target {state.target[0]:.3g}-{state.target[1]:.3g} frames unreachable in kappa range "
                f"10^{a:g}-10^{b:g}: closest median duration {best.duration:.3g} frames at kappa "
                f"{best.kappa:.4g}; widen the range or change the target"
            )
            return
        state.message = (
            f"bracket [{x_lo:.4g}, {x_hi:.4g}] collapsed without a median duration in the window "
            f"(duration jumps across it: not monotone at this resolution); closest "
            f"{best.duration:.3g} frames at kappa {best.kappa:.4g}"
        )
        return
    if len(state.trials) >= state.max_trials:
        best = state.best()
        state.status, state.chosen = "max_trials", best.index
        state.message = (
            f"no median duration in the window after {len(state.trials)} fits (max_trials); closest "
            f"{best.duration:.3g} frames at kappa {best.kappa:.4g}"
        )


def at_bound(state: SearchState, trial: Trial) -> str | None:
    """``"lower"`` / ``"upper"`` when ``trial`` sits on that bound of the kappa range, else None."""
    a, b = state.bounds
    if abs(trial.log10_kappa - a) < 1e-9:
        return "lower"
    if abs(trial.log10_kappa - b) < 1e-9:
        return "upper"
    return None


def final_outcome(state: SearchState, final_duration: float, fps: float | None = None) -> SearchState:
    """Record the final model's median duration (frames) and make ``status`` describe the final model.

    The search measures trials of ``trial_iters`` iterations; the final model runs on to all its
    iterations and its median duration may drift. Afterwards ``status`` is:

    - ``found`` / ``at_bound``: the final model's median is inside the window (``at_bound``: the
      chosen kappa is a range bound; widen the range);
    - ``drifted``: the chosen trial was inside the window but the final model is not;
    - ``unreachable`` / ``max_trials``: no trial was inside and the final model is not either.

    A final model inside the window after a failed search counts as ``found``. The search's own
    status stays in ``extra["search_status"]``, durations in ``extra["trial_duration"]`` and
    ``extra["final_duration"]`` (frames). ``fps`` only formats milliseconds in the message.
    """
    chosen = state.trials[state.chosen]
    search_status = state.extra.get("search_status", state.status)
    final_duration = float(final_duration)
    inside = state.side(final_duration) == 0

    def ms(frames: float) -> str:
        return f"{frames:.3g} frames" if not fps else f"{frames * 1000.0 / fps:.1f} ms ({frames:.3g} frames)"

    window = (
        f"[{state.target[0]:.3g}, {state.target[1]:.3g}] frames"
        if not fps
        else f"{state.target[0] * 1000.0 / fps:.0f}-{state.target[1] * 1000.0 / fps:.0f} ms"
    )
    state.extra.update(
        {
            "search_status": search_status,
            "search_message": state.extra.get("search_message", state.message),
            "trial_duration": chosen.duration,
            "final_duration": final_duration,
        }
    )
    bound = at_bound(state, chosen)
    if bound is not None:
        state.extra["at_bound"] = {"bound": bound, "log10_kappa": chosen.log10_kappa, "kappa": chosen.kappa}
    if inside:
        state.status = "at_bound" if bound is not None else "found"
        state.message = (
            f"final model's median duration {ms(final_duration)} is inside {window} "
            f"(trial: {ms(chosen.duration)}) at kappa {chosen.kappa:.4g}"
        )
        if bound is not None:
            state.message += (
                f", the {bound} bound of the kappa range (10^{chosen.log10_kappa:g}); widen kappa_log10_range"
            )
    elif search_status in HIT_STATUSES:
        state.status = "drifted"
        state.message = (
            f"drifted: median duration {ms(chosen.duration)} at the trial's iterations was inside {window}, "
            f"the final model's is {ms(final_duration)} (kappa {chosen.kappa:.4g}); raise trial_iters so "
            f"trials measure closer to the final fit, or adjust the target"
        )
    else:
        state.status = search_status
        state.message = f"{state.extra['search_message']}; final model's median duration {ms(final_duration)}"
    return state
