"""Model selection across seeds (moseq_seeds) with the fits replaced by cheap fakes: the highest EML
is chosen, a killed selection refits only the seeds without a completion record, other inputs refit
everything. The real tiny fits are in tests/integration/test_moseq_pipeline.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json
from ethoflow.dispatch import ComputeParams
from ethoflow.moseq import fit, seeds, stages
from ethoflow.moseq.params import MoseqParams


class Crash(Exception):
    pass


def test_choose_picks_the_highest_eml_first_on_ties():
    assert seeds.choose(np.array([-5.0, -1.0, -1.0, -3.0])) == 1
    with pytest.raises(InputError, match="finite"):
        seeds.choose(np.array([-1.0, np.nan]))


def test_the_best_eml_inside_the_window_is_preferred_and_the_rule_is_named():
    scores, window = np.array([-5.0, -1.0, -3.0]), (9.0, 12.0)
    assert seeds.choose_seed(scores, np.array([10.0, 14.0, 12.0]), window) == (
        2,
        "highest EML among the seeds inside the window",
    )
    assert seeds.choose_seed(scores, np.array([8.0, 14.0, 13.0]), window) == (
        1,
        "highest EML (no seed inside the window)",
    )
    assert seeds.choose_seed(scores, np.array([10.0, 14.0, 12.0]), window, "eml") == (1, "highest EML (select: eml)")


@pytest.fixture
def project(in_tmp, monkeypatch):
    pytest.importorskip("keypoint_moseq")
    import keypoint_moseq as kpms

    from ethoflow.moseq.io import update_kpms_config, write_kpms_config

    dirs = {k: in_tmp / k for k in ("pca", "arhmm", "full")}
    for k, d in dirs.items():
        write_kpms_config(
            d,
            bodyparts=["a", "b", "c"],
            use_bodyparts=["a", "b", "c"],
            anterior_bodyparts=["a"],
            posterior_bodyparts=["c"],
            skeleton=[],
            fps=30.0,
            video_dir="",
        )
        update_kpms_config(d, kappa={"pca": 1.0, "arhmm": 1e6, "full": 1e4}[k])
    (dirs["pca"] / "pca.p").write_bytes(b"pca")
    (in_tmp / "keypoints.p").write_bytes(b"keypoints")
    calls: list[int] = []
    kappas: list[tuple[float, float]] = []
    settings: list[tuple[int, int | None]] = []
    ctl = {"crash_at": None}

    def fake_fit_seed(spec):
        if ctl["crash_at"] is not None and spec["seed"] == ctl["crash_at"]:
            raise Crash("killed")
        calls.append(spec["seed"])
        d = Path(spec["project_dir"]) / spec["name"]
        d.mkdir(parents=True, exist_ok=True)
        (d / "checkpoint.h5").write_bytes(b"model")
        kappas.append((spec["arhmm_kappa"], spec["full_kappa"]))
        settings.append((spec["num_states"], spec["seg_length"]))
        result = {"seed": spec["seed"], "name": spec["name"], "iterations": 3, "median_duration": 9.0}
        from ethoflow.core.io import write_json

        write_json(spec["record"], {**result, "fingerprint": spec["fingerprint"]})
        return result

    # EML: seed 11 (the middle one) scores highest
    def fake_eml(checkpoint_paths):
        by_seed = {"seed-10": -5.0, "seed-11": -1.0, "seed-12": -3.0}
        names = [Path(p).parent.name for p in checkpoint_paths]
        return np.array([by_seed[n] for n in names]), np.full(len(names), 0.1)

    # median syllable duration (frames) per seed; the default window 300-400 ms at 30 fps is 9-12 frames
    medians = {"seed-10": 10.0, "seed-11": 11.0, "seed-12": 12.0}
    monkeypatch.setattr(seeds, "seed_median_duration", lambda path: medians[Path(path).parent.name])
    monkeypatch.setattr(fit, "fit_seed", fake_fit_seed)
    monkeypatch.setattr(kpms, "expected_marginal_likelihoods", fake_eml)
    monkeypatch.setattr(seeds, "seed_figures", lambda *a, **k: None)
    return {
        "root": in_tmp,
        "dirs": dirs,
        "calls": calls,
        "ctl": ctl,
        "kappas": kappas,
        "settings": settings,
        "medians": medians,
    }


def _run(p, cfg):
    return stages.run_moseq_seeds(
        cfg,
        keypoints=p["root"] / "keypoints.p",
        pca_dir=p["dirs"]["pca"],
        arhmm_dir=p["dirs"]["arhmm"],
        full_dir=p["dirs"]["full"],
        out=p["root"] / "seeds",
        eml_plot=p["root"] / "eml.png",
        confusion_plot=p["root"] / "confusion.png",
        compute=ComputeParams(),
    )


def test_highest_eml_is_chosen_and_a_killed_selection_refits_only_missing_seeds(project):
    cfg = MoseqParams(seed=10, seeds={"n_seeds": 3})
    project["ctl"]["crash_at"] = 12
    with pytest.raises(Crash):
        _run(project, cfg)
    assert project["calls"] == [10, 11]
    project["ctl"]["crash_at"] = None
    summary = _run(project, cfg)
    assert project["calls"] == [10, 11, 12], "a finished seed was refitted"
    assert summary["chosen"] == {"seed": 11, "name": "seed-11", "checkpoint": "seed-11/checkpoint.h5"}
    assert summary["eml"] == {"10": -5.0, "11": -1.0, "12": -3.0}
    assert read_json(project["root"] / "seeds" / "seeds.json")["chosen"]["seed"] == 11
    _run(project, cfg)  # complete: nothing refitted
    assert project["calls"] == [10, 11, 12]
    assert set(project["kappas"]) == {(1e6, 1e4)}, "seeds fitted at other kappas than the searches chose"
    # another full-model kappa (a new moseq_full result): every seed is refitted at it
    from ethoflow.moseq.io import update_kpms_config

    update_kpms_config(project["dirs"]["full"], kappa=2e4)
    _run(project, cfg)
    assert project["calls"][3:] == [10, 11, 12] and set(project["kappas"][3:]) == {(1e6, 2e4)}


def test_fewer_seeds_drop_the_extra_models_and_one_seed_is_refused(project):
    _run(project, MoseqParams(seed=10, seeds={"n_seeds": 3}))
    summary = _run(project, MoseqParams(seed=10, seeds={"n_seeds": 2}))
    assert summary["seeds"] == [10, 11] and project["calls"] == [10, 11, 12]
    assert sorted(p.name for p in (project["root"] / "seeds").iterdir() if p.is_dir()) == ["seed-10", "seed-11"]
    with pytest.raises(ValueError, match="n_seeds"):
        MoseqParams(seeds={"n_seeds": 1})


def test_seeds_use_the_searched_num_states_and_the_params_seg_length(project):
    """num_states comes from the AR-HMM's config (as the kappa does), seg_length from moseq.model;
    another seg_length refits every seed."""
    from ethoflow.moseq.io import update_kpms_config

    update_kpms_config(project["dirs"]["arhmm"], num_states=9)
    _run(project, MoseqParams(seed=10, model={"seg_length": 150}))
    assert set(project["settings"]) == {(9, 150)}
    _run(project, MoseqParams(seed=10, model={"seg_length": 200}))
    assert project["calls"] == [10, 11, 12] * 2 and project["settings"][-1] == (9, 200)


def test_a_seed_outside_the_window_loses_to_the_best_one_inside(project):
    """seed 11 has the highest EML but its median (14 frames = 467 ms) is outside 300-400 ms: seed 12
    (the best EML inside) is chosen and seeds.json says by which rule; select: eml keeps seed 11."""
    project["medians"]["seed-11"] = 14.0
    summary = _run(project, MoseqParams(seed=10))
    assert summary["chosen"]["seed"] == 12 and summary["rule"] == "highest EML among the seeds inside the window"
    assert summary["in_window"] == {"10": True, "11": False, "12": True}
    assert summary["median_duration_ms"]["11"] == pytest.approx(466.667)
    assert _run(project, MoseqParams(seed=10, seeds={"select": "eml"}))["chosen"]["seed"] == 11
