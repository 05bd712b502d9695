"""The closed loop's kappa corrections (``moseq_seeds``, :func:`ethoflow.moseq.seeds.closed_loop`); pure Python.

After a final fit with no seed's median syllable duration inside ``moseq.full.target_duration_ms``,
both kappas move to where a duration-vs-kappa line reaches the window's centre
(:func:`corrected_log10_kappa`, the search's secant step of :mod:`ethoflow.moseq.search`). The line's
slope (:func:`correction_slope`): the first correction has one final fit to go on, so it takes the
full-model search's slope (:func:`ethoflow.moseq.search.duration_slope`); from the second correction
on, the final fits' own slope (:func:`final_fit_slope`: least squares over every final fit so far,
the secant through them when there are two), because the final models (longer runs, other seeds)
respond less per decade than the search's trials did (measured in real fits: 200 -> 300 ms where the
search's line predicted 346 ms; docs/moseq.md "Real fits at tiny settings"). The search's slope stays
the fallback when the final fits' slope is unusable (:data:`FALLBACKS`).
"""

from __future__ import annotations

import math
from typing import Any

from ethoflow.core.errors import InputError
from ethoflow.moseq import search

#: a final fit's slope below this fraction of the search's slope is "too flat": with integer medians
#: (one frame is 33-67 ms) a small kappa step can show almost no change, and a near-zero slope would
#: step up to ``search.MAX_STEP`` decades (measured final-fit slopes: 0.55-0.74 of the search's).
MIN_SLOPE_FRACTION = 0.25
#: final fits whose log10 kappas spread less than this (decades) are at the "same kappa".
SAME_KAPPA = 1e-6
#: why the final fits' slope is not used (``seeds.json`` ``loop.fits[k].correction.fallback``).
FALLBACKS = ("one final fit", "same kappa", "no change in median", "wrong sign", "too flat")


def _centre(window: tuple[float, float]) -> float:
    lo, hi = (float(v) for v in window)
    if not 0 < lo < hi:
        raise InputError(f"bad duration window {window} (frames): need 0 < low < high")
    return 0.5 * (math.log(lo) + math.log(hi))


def _f(duration: float, centre: float) -> float:
    """ln of ``duration`` (frames) over the window's geometric centre, capped at +-``search.F_CAP``."""
    return max(-search.F_CAP, min(search.F_CAP, math.log(max(duration, 1e-9)) - centre))


def final_fit_slope(fits: list[tuple[float, float]], window: tuple[float, float]) -> tuple[float | None, str | None]:
    """The final fits' own duration-vs-kappa slope, d ln(median duration) / d log10(kappa).

    ``fits``: (log10 full-model kappa, median over seeds of the median syllable duration in frames) of
    every final fit, in order; ``window`` (frames). Least squares over the fits whose duration is not
    saturated (``|f| < search.F_CAP``, as the search's :func:`ethoflow.moseq.search.duration_slope`
    excludes them); with two fits, the secant through them.

    Returns:
        (slope, None), or (None, reason) when there is no slope to fit: ``"one final fit"`` (fewer than
        two unsaturated fits), ``"same kappa"`` (their kappas spread less than ``SAME_KAPPA`` decades),
        ``"no change in median"``. The slope's sign and size are judged by :func:`correction_slope`.

    Raises:
        InputError: a bad window.
    """
    centre = _centre(window)
    pts = [(float(x), _f(d, centre)) for x, d in fits if abs(_f(d, centre)) < search.F_CAP]
    if len(pts) < 2:
        return None, "one final fit"
    xs, ys = [x for x, _ in pts], [y for _, y in pts]
    if max(xs) - min(xs) < SAME_KAPPA:
        return None, "same kappa"
    if max(ys) - min(ys) < 1e-12:
        return None, "no change in median"
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    return sxy / sxx, None


def correction_slope(
    fits: list[tuple[float, float]], window: tuple[float, float], search_slope: float
) -> dict[str, Any]:
    """The slope the next correction uses, and where it comes from (recorded in ``seeds.json``).

    ``fits`` and ``window`` as :func:`final_fit_slope`; ``search_slope``: the full-model search's
    slope (ln frames per decade). The final fits' slope (:func:`final_fit_slope`) when it is usable,
    else the search's: ``"wrong sign"`` (duration must rise with kappa), ``"too flat"`` (below
    ``MIN_SLOPE_FRACTION`` of the search's slope or below ``search.MIN_SLOPE``), or no slope to fit.

    Returns:
        ``{"source": "final_fits" | "search", "slope": the slope used, "final_fits_slope": the final
        fits' slope or None, "fallback": None or the reason (one of ``FALLBACKS``)}``.

    Raises:
        InputError: a bad window, or a search slope that is not positive.
    """
    if not search_slope > 0:
        raise InputError(f"the search's duration-vs-kappa slope must be positive, got {search_slope}")
    own, reason = final_fit_slope(fits, window)
    if own is not None and own <= 0:
        reason = "wrong sign"
    elif own is not None and own < max(search.MIN_SLOPE, MIN_SLOPE_FRACTION * search_slope):
        reason = "too flat"
    rounded = None if own is None else round(own, 6)
    if reason is None:
        return {"source": "final_fits", "slope": float(own), "final_fits_slope": rounded, "fallback": None}
    return {"source": "search", "slope": float(search_slope), "final_fits_slope": rounded, "fallback": reason}


def corrected_log10_kappa(fits: list[tuple[float, float]], window: tuple[float, float], slope: float) -> float:
    """The full-model log10 kappa of the next final fit, from the fits so far.

    ``fits``: (log10 kappa, median over seeds of the median syllable duration in frames) of every
    final fit, in order; ``window`` (frames); ``slope``: d ln(duration) / d log10(kappa)
    (:func:`correction_slope`: the full-model search's line, :func:`ethoflow.moseq.search.duration_slope`,
    or the final fits' own). As the search's secant step (:mod:`ethoflow.moseq.search`): each fit
    predicts the root ``x - f / slope`` (``f``: ln of its median over the window's geometric centre,
    capped at ``search.F_CAP``), averaged with weights ``1 / (f^2 + ROOT_NOISE^2)``, at most
    ``MAX_STEP`` decades from the last fit; kept strictly inside the bracket of fits measured too
    short / too long (its midpoint otherwise).

    Raises:
        InputError: no fit, or a bad window or slope.
    """
    lo, hi = (float(v) for v in window)
    if not fits or not 0 < lo < hi or not slope > 0:
        raise InputError(f"cannot correct kappa from fits {fits}, window {window}, slope {slope}")
    centre = _centre(window)
    num = den = 0.0
    x_lo, x_hi = -math.inf, math.inf
    for x, d in fits:
        f = _f(d, centre)
        w = 1.0 / (f * f + search.ROOT_NOISE**2)
        num += w * (x - f / slope)
        den += w
        if d < lo:
            x_lo = max(x_lo, x)
        elif d > hi:
            x_hi = min(x_hi, x)
    last = fits[-1][0]
    root = min(max(num / den, last - search.MAX_STEP), last + search.MAX_STEP)
    if not x_lo < root < x_hi:
        if math.isfinite(x_lo) and math.isfinite(x_hi):
            root = 0.5 * (x_lo + x_hi)
        elif math.isfinite(x_lo):
            root = x_lo + search.RESOLUTION
        else:
            root = x_hi - search.RESOLUTION
    return float(root)
