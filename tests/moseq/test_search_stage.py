"""The moseq_arhmm stage (``stages.run_moseq_arhmm``: the kappa search of ``kappa`` around the fits of
``fit``) with the model fits replaced by cheap fakes: a crash in the middle resumes from the state
file, the final fit and the clean-up run once, stale state is reset."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from ethoflow.core.io import read_json
from ethoflow.dispatch import ComputeParams
from ethoflow.moseq import fit, stages
from ethoflow.moseq.params import MoseqParams
from tests.fixtures.moseq import write_toy_kpms_config


class Crash(Exception):
    pass


def fake_duration(kappa: float) -> float:
    return 2.0 + 400.0 / (1.0 + math.exp(-(math.log10(kappa) - 9.0) / 1.5))


@pytest.fixture
def project(in_tmp, monkeypatch):
    pytest.importorskip("keypoint_moseq")
    pca_dir = in_tmp / "pca"
    write_toy_kpms_config(pca_dir)
    (pca_dir / "pca.p").write_bytes(b"pca")
    kp = in_tmp / "keypoints.p"
    kp.write_bytes(b"keypoints")
    calls: list[float] = []
    state = {"crash_after": None, "drift": 1.0, "trial_durations": []}

    def fake_fit_trial(spec):
        if state["crash_after"] is not None and len(calls) >= state["crash_after"]:
            raise Crash("killed")
        calls.append(spec["kappa"])
        d = Path(spec["project_dir"]) / spec["name"]
        d.mkdir(parents=True, exist_ok=True)
        with h5py.File(d / "checkpoint.h5", "w") as f:
            f.create_dataset(f"model_snapshots/{spec['iters']}/x", data=np.zeros(1))
        state["trial_durations"].append((spec["name"], fake_duration(spec["kappa"])))
        return fake_duration(spec["kappa"]), spec["name"]

    finals: list[dict] = []

    def fake_continue(spec):
        finals.append(spec)
        d = Path(spec["project_dir"]) / spec["final_name"]
        d.mkdir(parents=True, exist_ok=True)
        (d / "checkpoint.h5").write_bytes(b"final")
        # the final model's duration: the chosen trial's unless a test sets a drift factor
        trial = next(c for c in reversed(state["trial_durations"]) if c[0] == spec["trial_name"])
        return {"end_iter": spec["end_iter"], "duration": trial[1] * state["drift"]}

    monkeypatch.setattr(fit, "fit_trial", fake_fit_trial)
    monkeypatch.setattr(fit, "continue_fit", fake_continue)
    return {"root": in_tmp, "pca": pca_dir, "kp": kp, "calls": calls, "state": state, "finals": finals}


def _run(p, cfg):
    return stages.run_moseq_arhmm(
        cfg, keypoints=p["kp"], pca_dir=p["pca"], out=p["root"] / "arhmm", compute=ComputeParams()
    )


def test_stage_resumes_after_crash_and_cleans_up(project):
    cfg = MoseqParams(arhmm={"target_duration_ms": [1000, 1300], "trial_iters": 3, "arhmm_iters": 7})
    project["state"]["crash_after"] = 2
    with pytest.raises(Crash):
        _run(project, cfg)
    saved = read_json(project["root"] / "arhmm" / "search_state.json")
    assert len(saved["trials"]) == 2 and saved["status"] == "running"
    first_two = list(project["calls"])
    project["state"]["crash_after"] = None
    st = _run(project, cfg)
    assert st.status == "found"
    assert project["calls"][:2] == first_two
    assert not set(project["calls"][2:]) & set(first_two), "a finished trial was refitted"
    assert len(project["finals"]) == 1 and project["finals"][0]["end_iter"] == 7
    assert project["finals"][0]["trial_name"] == st.trials[st.chosen].checkpoint
    out = project["root"] / "arhmm"
    assert not list(out.glob("arhmm-trial-*")) and (out / "arhmm" / "checkpoint.h5").exists()
    from ethoflow.moseq.io import read_kpms_config

    assert read_kpms_config(out)["trans_hypparams"]["kappa"] == pytest.approx(st.trials[st.chosen].kappa)
    # complete: a rerun does nothing
    n = len(project["calls"])
    _run(project, cfg)
    assert len(project["calls"]) == n and len(project["finals"]) == 1
    # other params: stale state, the search starts afresh
    cfg2 = MoseqParams(arhmm={"target_duration_ms": [500, 700], "trial_iters": 3, "arhmm_iters": 7})
    st2 = _run(project, cfg2)
    assert st2.status == "found" and len(project["calls"]) > n
    assert st2.target == pytest.approx((15.0, 21.0))


def test_bad_compute_options_fail_at_stage_start(project):
    from ethoflow.core.errors import ParamsError

    compute = ComputeParams(stages={"moseq_arhmm": {"options": {"mixed_map_iter": 4}}})
    with pytest.raises(ParamsError, match="compute.stages.moseq_arhmm.options.*mixed_map_iter"):
        stages.run_moseq_arhmm(
            MoseqParams(),
            keypoints=project["kp"],
            pca_dir=project["pca"],
            out=project["root"] / "arhmm",
            compute=compute,
        )


def test_rounds_of_several_trials_go_through_map_array(project, monkeypatch):
    from ethoflow import dispatch

    rounds = []
    orig = dispatch.map_array

    def spy(fn, *iterables, **kw):
        rounds.append(len(iterables[0]))
        return orig(fn, *iterables, **kw)

    monkeypatch.setattr(dispatch, "map_array", spy)
    cfg = MoseqParams(
        arhmm={"target_duration_ms": [1000, 1300], "trial_iters": 3, "arhmm_iters": 3, "trials_per_round": 3}
    )
    st = _run(project, cfg)
    assert st.status == "found"
    assert rounds and all(n == 3 for n in rounds[:-1]) and len(st.trials) == sum(rounds)
    assert len({t.kappa for t in st.trials}) == len(st.trials)


def test_final_model_drifted_out_of_window_is_reported(project, caplog):
    """The chosen trial (3 iterations) is inside the window, the final model (7 iterations) is 40%
    longer: status ``drifted``, both durations in ms in the stage log and the state file."""
    import logging

    cfg = MoseqParams(arhmm={"target_duration_ms": [1000, 1300], "trial_iters": 3, "arhmm_iters": 7})
    project["state"]["drift"] = 1.4
    with caplog.at_level(logging.WARNING):
        st = _run(project, cfg)
    assert st.status == "drifted" and st.extra["search_status"] == "found"
    trial_d = st.trials[st.chosen].duration
    assert st.extra["trial_duration"] == pytest.approx(trial_d)
    assert st.extra["final_duration"] == pytest.approx(1.4 * trial_d)
    trial_ms, final_ms = trial_d * 1000 / 30, 1.4 * trial_d * 1000 / 30
    assert 1000 <= trial_ms <= 1300 < final_ms
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "drifted" in r.getMessage()]
    assert warned and f"{trial_ms:.1f} ms" in warned[0] and f"{final_ms:.1f} ms" in warned[0]
    saved = read_json(project["root"] / "arhmm" / "search_state.json")
    assert saved["status"] == "drifted" and saved["version"] == 3 and saved["extra"]["complete"]


def test_final_model_inside_window_is_found(project):
    cfg = MoseqParams(arhmm={"target_duration_ms": [1000, 1300], "trial_iters": 3, "arhmm_iters": 7})
    st = _run(project, cfg)
    assert st.status == "found" and "final model" in st.message
    assert st.extra["final_duration"] == pytest.approx(st.trials[st.chosen].duration)


def test_model_settings_reach_every_trial_and_the_stage_config(project, monkeypatch):
    """moseq.model.num_states and seg_length go into every AR-HMM trial's spec; num_states is written
    into the stage's config.yml (moseq_seeds reads it there); another value starts the search afresh."""
    specs: list[dict] = []
    fake = fit.fit_trial
    monkeypatch.setattr(fit, "fit_trial", lambda spec: (specs.append(spec), fake(spec))[1])
    cfg = MoseqParams(arhmm={"trial_iters": 3, "arhmm_iters": 7}, model={"num_states": 7, "seg_length": 120})
    _run(project, cfg)
    assert specs and {(s["num_states"], s["seg_length"]) for s in specs} == {(7, 120)}
    from ethoflow.moseq.io import read_kpms_config

    assert read_kpms_config(project["root"] / "arhmm")["trans_hypparams"]["num_states"] == 7
    n = len(specs)
    _run(project, cfg)
    assert len(specs) == n, "a complete search was refitted"
    _run(project, cfg.model_copy(update={"model": cfg.model.model_copy(update={"num_states": 9})}))
    assert len(specs) > n and specs[-1]["num_states"] == 9
