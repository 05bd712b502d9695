"""Kappa search logic against synthetic monotone duration(kappa) functions (no jax, no kpms)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ethoflow.core.io import read_json
from ethoflow.moseq.kappa import load_or_new, run_search
from ethoflow.moseq.search import SearchError, SearchState, final_outcome, new_state, propose

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


def power_law(slope: float, offset: float):
    """duration = exp(offset + slope * log10 kappa): monotone, like kpms' median duration."""
    return lambda x: math.exp(offset + slope * x)


def saturating(x: float) -> float:
    return 2.0 + 400.0 / (1.0 + math.exp(-(x - 12.0) / 1.3))


def search(fn, method="secant", target=(9.0, 12.0), bounds=(3.0, 18.0), max_trials=30, **kw) -> SearchState:
    st = new_state(method, target, bounds, max_trials, **kw)
    seen: list[float] = []

    def evaluate(trials):
        seen.extend(t.log10_kappa for t in trials)
        return [(fn(t.log10_kappa), t.checkpoint) for t in trials]

    run_search(evaluate, st, None)
    st.extra["seen"] = seen
    return st


CURVES = [power_law(s, o) for s, o in [(0.2, 0.0), (0.35, -1.0), (0.5, -2.5), (0.9, -5.0), (1.6, -12.0)]] + [saturating]


@pytest.mark.parametrize("method", ["secant", "bisection"])
@pytest.mark.parametrize("curve", range(len(CURVES)))
def test_search_converges_inside_window_and_bounds(method, curve):
    fn = CURVES[curve]
    target = (9.0, 12.0) if curve < 5 else (40.0, 55.0)
    st = search(fn, method, target=target)
    assert st.status == "found", st.message
    best = st.trials[st.chosen]
    assert target[0] <= best.duration <= target[1]
    assert best.duration == pytest.approx(fn(best.log10_kappa))
    assert all(3.0 <= t.log10_kappa <= 18.0 for t in st.trials)
    assert len({t.log10_kappa for t in st.trials}) == len(st.trials), "a kappa was fitted twice"


def test_secant_needs_fewer_fits_than_bisection_overall():
    totals = {}
    for method in ("secant", "bisection"):
        totals[method] = sum(
            len(search(fn, method, target=(9.0, 12.0) if i < 5 else (40.0, 55.0)).trials) for i, fn in enumerate(CURVES)
        )
    assert totals["secant"] < totals["bisection"], totals


def noisy_integer_median(slope: float, offset: float, sigma: float = 0.15):
    """Like a real trial: a power law with multiplicative noise that is fixed per kappa (same kappa,
    same seed, same fit), rounded to a whole number of frames as a median of run lengths is."""
    import random

    def fn(x: float) -> float:
        noise = random.Random(f"{slope}/{offset}/{x:.9f}").gauss(0.0, sigma)
        return float(max(1, round(math.exp(offset + slope * x + noise))))

    return fn


def test_secant_needs_fewer_fits_than_bisection_on_noisy_integer_medians():
    totals, found = {"secant": 0, "bisection": 0}, {"secant": 0, "bisection": 0}
    for slope, offset in [(0.2, 0.5), (0.3, 0.0), (0.35, -0.8), (0.5, -2.0), (0.8, -4.0)]:
        fn = noisy_integer_median(slope, offset)
        for low in (6, 9, 14, 20, 30):
            for method in totals:
                st = search(fn, method, target=(low, low * 4 / 3), max_trials=12)
                totals[method] += len(st.trials)
                found[method] += st.status == "found"
                assert all(3.0 <= t.log10_kappa <= 18.0 for t in st.trials)
    assert found["secant"] >= found["bisection"], found
    assert totals["secant"] < totals["bisection"], totals


def test_bracket_collapsing_on_a_jump_stops_early():
    # duration jumps from 8 to 30 frames at log10 kappa 7.3: no kappa gives 10-13 frames
    st = search(lambda x: 8.0 if x < 7.3 else 30.0, "secant", target=(10.0, 13.0))
    assert st.status == "unreachable" and "collapsed" in st.message
    assert len(st.trials) < 30
    assert 7.3 - 0.02 <= st.bracket[0] < 7.3 <= st.bracket[1] <= 7.3 + 0.02


def test_narrow_window_secant_much_faster():
    fn = power_law(0.4, -1.0)
    b = search(fn, "bisection", target=(10.0, 10.3))
    s = search(fn, "secant", target=(10.0, 10.3))
    assert b.status == s.status == "found"
    assert len(s.trials) < len(b.trials)


@pytest.mark.parametrize("method", ["secant", "bisection"])
def test_unreachable_target_reported_clearly(method):
    st = search(lambda x: 2.0 + 0.01 * x, method, max_trials=40)  # always far too short
    assert st.status == "unreachable"
    assert "unreachable" in st.message and "10^18" in st.message
    assert all(3.0 <= t.log10_kappa <= 18.0 for t in st.trials)
    # the closest trial is the longest duration, i.e. at the top of the range
    assert st.trials[st.chosen].log10_kappa == max(t.log10_kappa for t in st.trials)


def test_unreachable_from_below_secant_probes_the_bound():
    st = search(lambda x: 500.0 + x, "secant")  # always too long
    assert st.status == "unreachable"
    assert any(t.log10_kappa == 3.0 for t in st.trials)
    assert "smallest kappa" in st.message
    assert len(st.trials) <= 4


def test_max_trials_stops_with_closest():
    st = search(power_law(0.4, -1.0), "bisection", target=(10.0, 10.01), max_trials=3)
    assert st.status == "max_trials" and len(st.trials) == 3
    best = st.trials[st.chosen]
    assert abs(math.log(best.duration / 10.0)) == min(abs(math.log(t.duration / 10.0)) for t in st.trials)


def test_parallel_rounds_propose_distinct_kappas_inside_bracket():
    st = search(power_law(0.35, -1.0), "secant", per_round=3)
    assert st.status == "found"
    assert len({t.log10_kappa for t in st.trials}) == len(st.trials)
    fresh = new_state("bisection", (9, 12), (3, 18), 10, per_round=3)
    assert propose(fresh) == pytest.approx([10.5, 8.0, 13.0])  # start, then k-section of the bracket


def test_bad_inputs_raise():
    with pytest.raises(SearchError, match="method"):
        new_state("golden", (9, 12), (3, 18), 5)
    with pytest.raises(SearchError, match="target window"):
        new_state("secant", (12, 9), (3, 18), 5)
    with pytest.raises(SearchError, match="kappa range"):
        new_state("secant", (9, 12), (18, 3), 5)
    st = new_state("secant", (9, 12), (3, 18), 5)
    with pytest.raises(SearchError, match="no valid duration"):
        run_search(lambda ts: [(float("nan"), "x") for _ in ts], st, None)


def test_state_file_written_after_every_trial_and_stale_state_ignored(tmp_path):
    path = tmp_path / "state.json"
    counts = []

    def on_trial(state, trial):
        counts.append(len(read_json(path)["trials"]))

    st = new_state("bisection", (9, 12), (3, 18), 30, fingerprint="a")
    fn = power_law(0.35, -1.0)
    run_search(lambda ts: [(fn(t.log10_kappa), t.checkpoint) for t in ts], st, path, on_trial=on_trial)
    assert counts == list(range(1, len(st.trials) + 1))
    saved = read_json(path)
    assert saved["status"] == "found" and saved["trials"][0]["checkpoint"] == "trial-00"
    assert set(saved["trials"][0]) >= {"kappa", "log10_kappa", "duration", "checkpoint", "index"}
    assert saved["bracket"][0] <= saved["bracket"][1]
    # same inputs: the saved state is used; another fingerprint: a fresh one
    assert load_or_new(path, new_state("bisection", (9, 12), (3, 18), 30, fingerprint="a")).status == "found"
    assert load_or_new(path, new_state("bisection", (9, 12), (3, 18), 30, fingerprint="b")).trials == []


def test_state_file_is_validated_on_read_and_older_versions_are_discarded(tmp_path):
    """search_state.json is a typed record (SearchState): a state of an older version is discarded
    (its trials are never mixed with this method's), a broken one of this version is an error naming
    the file and the key."""
    from ethoflow.core.errors import InputError
    from ethoflow.core.io import write_json
    from ethoflow.moseq.kappa import read_state
    from ethoflow.moseq.search import STATE_VERSION

    path = tmp_path / "search_state.json"
    fresh = new_state("secant", (9, 12), (3, 18), 30, fingerprint="a")
    fn = power_law(0.35, -1.0)
    st = run_search(lambda ts: [(fn(t.log10_kappa), t.checkpoint) for t in ts], fresh.model_copy(deep=True), path)
    assert read_state(path).trials[0].duration == st.trials[0].duration
    assert load_or_new(path, fresh).trials == st.trials
    old = read_json(path)
    write_json(path, {**old, "version": STATE_VERSION - 1})
    assert load_or_new(path, fresh) is fresh
    with pytest.raises(InputError, match="version"):
        read_state(path)
    broken = {**old, "trials": [{**old["trials"][0], "kappa": "big"}]}
    write_json(path, broken)
    with pytest.raises(InputError, match=r"search_state.json: SearchState key trials.0.kappa"):
        load_or_new(path, fresh)
    write_json(path, {k: v for k, v in old.items() if k != "target"})
    with pytest.raises(InputError, match=r"key target: Field required"):
        read_state(path)


def _worker(state: Path, log: Path, sleep_s: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, str(HERE / "search_worker.py"), str(state), str(log), str(sleep_s)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_after_second_trial_resumes_without_redoing_trials(tmp_path):
    # uninterrupted reference run
    ref_state, ref_log = tmp_path / "ref.json", tmp_path / "ref.log"
    proc = _worker(ref_state, ref_log, 0.0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    ref = read_json(ref_state)
    assert ref["status"] == "found" and len(ref["trials"]) >= 3

    # killed run: SIGKILL as soon as the state file shows two finished trials
    state, log = tmp_path / "state.json", tmp_path / "eval.log"
    proc = _worker(state, log, 0.5)
    deadline = time.time() + 120
    while time.time() < deadline:
        if state.exists():
            try:
                n = len(read_json(state)["trials"])
            except ValueError:  # never happens with atomic writes; would fail the test below
                n = -1
            assert n >= 0, "state file was read half-written"
            if n >= 2:
                proc.send_signal(signal.SIGKILL)
                break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = read_json(state)
    assert killed["status"] == "running"
    done_before = [t["log10_kappa"] for t in killed["trials"]]
    assert len(done_before) == 2
    evaluated_before = log.read_text().split()

    # rerun: resumes from the state file
    proc = _worker(state, log, 0.0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    evaluated_after = log.read_text().split()[len(evaluated_before) :]
    assert not set(map(float, evaluated_after)) & set(done_before), "finished trials were fitted again"
    final = read_json(state)
    assert final["status"] == "found"
    assert [t["log10_kappa"] for t in final["trials"]] == [t["log10_kappa"] for t in ref["trials"]]
    assert final["trials"][final["chosen"]]["kappa"] == ref["trials"][ref["chosen"]]["kappa"]


def test_window_reached_at_the_lower_range_bound_is_at_bound():
    """Steep curve whose window (9-12) is reached only at kappa 10^3, the lower bound: the secant
    probes the bound, hits, and says so (bound, kappa, widen the range)."""
    st = search(lambda x: 10.0 * math.exp(x - 3.0), "secant")
    assert st.status == "at_bound", st.message
    chosen = st.trials[st.chosen]
    assert chosen.log10_kappa == 3.0 and 9 <= chosen.duration <= 12
    assert "lower bound" in st.message and "widen kappa_log10_range" in st.message
    final_outcome(st, chosen.duration)
    assert st.status == "at_bound" and st.extra["at_bound"] == {"bound": "lower", "log10_kappa": 3.0, "kappa": 1000.0}
    assert "widen kappa_log10_range" in st.message


def test_window_reached_at_the_upper_range_bound_is_at_bound():
    st = search(lambda x: 10.0 * math.exp(x - 18.0), "secant")
    assert st.status == "at_bound" and "upper bound" in st.message, st.message


def _synthetic_drift(trial_iters: int, total_iters: int, x: float) -> float:
    """Median duration after ``iters`` Gibbs iterations at log10 kappa ``x``: syllables keep
    lengthening with iterations (the mouse data: inside 300-400 ms at 5 iterations, 466.7 ms at 15)."""
    return math.exp(0.35 * (x - 10.0)) * 10.5 * (total_iters / trial_iters) ** 0.3


def test_drift_of_the_final_model_is_detected():
    fn = lambda x: _synthetic_drift(5, 5, x)  # noqa: E731 - trials: 5 iterations
    st = search(fn, "secant")
    assert st.status == "found"
    chosen = st.trials[st.chosen]
    final = _synthetic_drift(5, 15, chosen.log10_kappa)  # the final model: 15 iterations
    assert final > 12.0
    final_outcome(st, final, fps=30.0)
    assert st.status == "drifted" and st.extra["search_status"] == "found"
    assert st.extra["trial_duration"] == chosen.duration and st.extra["final_duration"] == final
    assert f"{chosen.duration * 1000 / 30:.1f} ms" in st.message and f"{final * 1000 / 30:.1f} ms" in st.message


def test_final_outcome_inside_or_after_a_failed_search():
    st = search(lambda x: _synthetic_drift(5, 5, x), "secant")
    final_outcome(st, 10.0)
    assert st.status == "found"
    st = search(power_law(0.2, 0.0), "bisection", bounds=(3.0, 6.0))  # unreachable: too short
    assert st.status == "unreachable"
    final_outcome(st, 2.0)
    assert st.status == "unreachable" and st.extra["final_duration"] == 2.0
