"""The whole moseq DAG: on the real SLEAP flies (stage functions in-process) and on the demo data
through DVC. Few iterations: these check wiring, files and resumability, not model quality."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

from ethoflow.core.io import read_json
from tests.conftest import REPO
from tests.fixtures.tiny import MOSEQ_FIT
from tests.integration.dvcproject import copy_project, dvc, ran_stages

pytestmark = pytest.mark.integration

MOSEQ_STAGES = [
    "moseq_load",
    "moseq_outliers",
    "moseq_pca",
    "moseq_arhmm",
    "moseq_full",
    "moseq_seeds",
    "moseq_results",
]
SUMMARY_KEYS = {
    "kappa",
    "median_duration_frames",
    "median_duration_ms",
    "syllables_90pct_frames",
    "total_syllables",
    "latent_dim",
    "variance_explained",
    "search",
}
TINY_FIT = MOSEQ_FIT


@pytest.fixture
def jax_cache(monkeypatch):
    """The machine's persistent JAX cache (ethoflow.moseq.jaxcache), shared by every clone: the
    stages' subprocesses and a rerun of the suite load what earlier runs compiled."""
    from ethoflow.moseq import jaxcache

    monkeypatch.delenv(jaxcache.ENV_CACHE, raising=False)
    return jaxcache.cache_dir()


def stage_argv(stage: str, key: str | None = None) -> list[str]:
    """The arguments ``dvc.yaml`` gives ``stage``'s script (paths are written there only); ``key``:
    the item of a ``foreach`` stage."""
    from ethoflow.core.stage import resolved_stages

    name = stage if key is None else f"{stage}@{key}"
    return shlex.split(resolved_stages(REPO / "dvc.yaml", "params.yaml", prefix=stage)[name]["cmd"])[2:]


def _check_outputs(root: Path, n_sessions: int) -> dict:
    summary = read_json(root / "models/moseq/results/summary.json")
    headline = read_json(root / "metrics/moseq.json")
    assert set(headline["log10_kappa"]) == {"arhmm", "full"} and headline["median_ms"] == pytest.approx(
        summary["median_duration_ms"], rel=1e-5
    )
    search = (root / "reports/moseq/results/kappa_search.csv").read_text().splitlines()
    assert search[0] == "series,trial,log10_kappa,median_ms" and len(search) > 2
    assert SUMMARY_KEYS <= set(summary)
    assert set(summary["kappa"]) == {"arhmm", "full"}
    assert summary["median_duration_ms"] == pytest.approx(
        summary["median_duration_frames"] * 1000 / summary["fps"], abs=1e-3
    )
    assert 1 <= summary["syllables_90pct_frames"] <= summary["total_syllables"]
    assert summary["sessions"] == n_sessions
    res = root / "models/moseq/results/model"
    assert (res / "checkpoint.h5").exists() and (res / "results.h5").exists()
    assert len(list((res / "results").glob("*.csv"))) == n_sessions
    for stage in ("arhmm", "full"):
        d = root / "models/moseq" / stage
        state = read_json(d / "search_state.json")
        assert state["extra"]["complete"] and state["trials"]
        assert (d / stage / "checkpoint.h5").exists()
        assert not list(d.glob(f"{stage}-trial-*")), "intermediate trial checkpoints left behind"
    for png in (root / "reports/moseq").rglob("*.png"):
        assert png.stat().st_size < 1_000_000, png
    for name in ("syllable_frequency", "duration_histogram", "kappa_search", "similarity_dendrogram", "trajectories"):
        assert (root / "reports/moseq/results" / f"{name}.png").exists()
    assert (root / "reports/moseq/pca_pcs.png").exists()
    # model selection across seeds: the highest EML among the seeds inside the window (all seeds when
    # none is) is chosen, and reported in summary and headline
    seeds = read_json(root / "models/moseq/seeds/seeds.json")
    eml = {int(k): v for k, v in seeds["eml"].items()}
    inside = {s: v for s, v in eml.items() if seeds["in_window"][str(s)]} or eml
    assert len(eml) == 3 and seeds["chosen"]["seed"] == max(inside, key=inside.get)
    # closed loop: the final model lands inside the target window (status found), the loop says how
    assert seeds["loop"]["status"] in ("found", "corrected"), seeds["loop"]
    assert summary["status"] == "found" and summary["results_in_window"], summary["message"]
    assert headline["final_fits"] == seeds["loop"]["final_fits"] <= seeds["loop"]["budget"]
    # the headline status describes the model the results come from
    assert (summary["status"] in ("found", "at_bound")) == summary["results_in_window"]
    assert headline["in_window"]["results"] == int(summary["results_in_window"])
    assert summary["seeds"]["chosen"] == seeds["chosen"] and headline["seed"] == seeds["chosen"]["seed"]
    assert set(headline["eml"]) == {str(k) for k in eml}
    for name in ("eml_scores", "confusion"):
        assert (root / "reports/moseq/seeds" / f"{name}.png").exists()
    assert (root / "reports/moseq/results/grid_movies/grid_movies.json").exists()
    return summary


def test_whole_dag_on_real_sleap_flies(shared_data, in_tmp, jax_cache):
    """centered_pair_predictions.slp: two full tracks plus many 1-15 frame fragments; fps from the video."""
    from ethoflow.moseq.io import detect_fps
    from stages import moseq_arhmm, moseq_full, moseq_load, moseq_outliers, moseq_pca, moseq_results, moseq_seeds

    sleap = shared_data / "keypoints" / "sleap"
    slp = str(sleap / "centered_pair_predictions.slp")
    video = sleap / "centered_pair_low_quality.mp4"
    use = ["head", "thorax", "abdomen", "wingL", "wingR", "forelegL1", "forelegR1", "hindlegL3", "hindlegR3"]
    import sleap_io as sio

    labels = sio.load_slp(slp)
    labels.skeletons[0].rename_nodes({n: f"ind1_{n}" for n in labels.skeletons[0].node_names})
    prefixed = in_tmp / "prefixed" / Path(slp).name
    prefixed.parent.mkdir()
    sio.save_slp(labels, str(prefixed))
    params = {
        "moseq": {
            "load": {
                "format": "sleap",
                "input_dir": str(sleap),
                "paths": [slp],
                "use_bodyparts": use,
                "anterior_bodyparts": ["head"],
                "posterior_bodyparts": ["abdomen"],
                "fps": None,
                "video_dir": str(sleap),
                "min_frames": 100,
                "max_nan_fraction": 0.5,
            },
            **TINY_FIT,
            # grid movies from the flies' video: a few short ones (2 x 2 instances, 0.6 s)
            "results": {
                "grid_movies": {
                    "video_paths": {f"centered_pair_predictions_track{i}": str(video) for i in (0, 1)},
                    "rows": 2,
                    "cols": 2,
                    "before_s": 0.2,
                    "after_s": 0.4,
                }
            },
            # the flies' tracks again as a set of "new" sessions for moseq_apply, under prefixed
            # bodypart names (ind1_head, ...) mapped back with bodypart_map
            "apply": {
                "num_iters": 3,
                "sets": {
                    "flies": {
                        "format": "sleap",
                        "input_dir": str(prefixed.parent),
                        "paths": [str(prefixed)],
                        "fps": detect_fps(sleap),
                        "bodypart_map": {f"ind1_{b}": b for b in use},
                    }
                },
            },
        }
    }
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    (in_tmp / "dvc.yaml").write_text("stages: {}\n")
    for mod in (moseq_load, moseq_outliers, moseq_pca, moseq_arhmm, moseq_full, moseq_seeds, moseq_results):
        mod.main([*stage_argv(mod.__name__.split(".")[-1]), "--params", "params.yaml"])
    report = read_json(in_tmp / "data/interim/moseq/load/load_report.json")
    assert report["fps_source"].startswith("video") and report["fps"] > 0
    assert len(report["sessions"]) == 2, report["sessions"]
    assert report["dropped_fragments"] and max(report["dropped_fragments"].values()) < 100
    summary = _check_outputs(in_tmp, 2)
    # the chosen seed follows the EML scores keypoint-moseq computes afresh from the seeds' models
    import keypoint_moseq as kpms

    from ethoflow.moseq.seeds import choose_seed, seed_median_duration, seed_name

    seeds = read_json(in_tmp / "models/moseq/seeds/seeds.json")
    last = seeds["loop"]["final_fits"]
    paths = [str(in_tmp / "models/moseq/seeds" / seed_name(s, last) / "checkpoint.h5") for s in seeds["seeds"]]
    scores, _ = kpms.expected_marginal_likelihoods(checkpoint_paths=paths)
    medians = [seed_median_duration(p) for p in paths]
    index, rule = choose_seed(scores, medians, tuple(seeds["target_frames"]))
    assert seeds["seeds"][index] == seeds["chosen"]["seed"] and rule == seeds["rule"]
    assert [seeds["eml"][str(s)] for s in seeds["seeds"]] == pytest.approx(list(scores))
    assert summary["latent_dim"] >= 1 and 0.9 <= summary["variance_explained"] <= 1.0
    # grid movies per syllable from the flies' video (kpms generate_grid_movies), listed in grid_movies.json
    movies_dir = in_tmp / "reports/moseq/results/grid_movies"
    listed = read_json(movies_dir / "grid_movies.json")["movies"]
    assert listed and sorted(p.name for p in movies_dir.glob("*.mp4")) == listed
    assert all((movies_dir / m).stat().st_size > 1000 for m in listed)
    # moseq_apply: the chosen model applied to the flies as new sessions, in the training results' layout
    from stages import moseq_apply

    moseq_apply.main([*stage_argv("moseq_apply", "flies"), "--params", "params.yaml"])
    applied = in_tmp / "models/moseq/apply/flies"
    trained = sorted(p.name for p in (in_tmp / "models/moseq/results/model/results").glob("*.csv"))
    assert sorted(p.name for p in (applied / "model/results").glob("*.csv")) == trained
    head = (applied / "model/results" / trained[0]).read_text().splitlines()[0]
    assert head == (in_tmp / "models/moseq/results/model/results" / trained[0]).read_text().splitlines()[0]
    freq = (applied / "syllable_frequencies.csv").read_text().splitlines()
    assert freq[0] == "session,group,syllable,frames,fraction" and len(freq) > 2
    assert (applied / "group_frequencies.csv").exists() and (applied / "model/results.h5").exists()
    # applied to its own training sessions: usage and agreement with the training labels reported
    summary = read_json(applied / "summary.json")
    assert set(summary["agreement"]) == set(summary["sessions"]) and 0 < summary["agreement_mean"] <= 1
    assert {w["name"] for w in summary["warnings"]} <= {"one_syllable_dominates", "few_syllables_used"}
    for name in ("transition_graph", "syllable_frequency", "duration_histogram", "trajectories"):
        png = in_tmp / "reports/moseq/apply/flies" / f"{name}.png"
        assert 0 < png.stat().st_size < 1_000_000, png


def test_dvc_repro_moseq_dag_on_demo_data(tmp_path, jax_cache, monkeypatch):
    params = {
        "moseq": {
            "demo": {"n_sessions": 2, "n_frames": 300, "n_keypoints": 5},
            **TINY_FIT,
            "apply": {"num_iters": 3},
        }
    }
    proj = copy_project(tmp_path, params=params)
    res = dvc(proj, "repro", "moseq_results", "moseq_apply")
    assert {"demo_moseq", *MOSEQ_STAGES, "moseq_apply@heldout"} <= ran_stages(res)
    _check_outputs(proj, 2)
    # the held-back demo session (not in training) gets syllables from the chosen model
    applied = read_json(proj / "models/moseq/apply/heldout/summary.json")
    assert (
        applied["sessions"] == ["session_2"]
        and "session_2" not in read_json(proj / "data/interim/moseq/load/load_report.json")["sessions"]
    )
    for name in ("transition_graph", "syllable_frequency", "duration_histogram", "trajectories"):
        assert (proj / "reports/moseq/apply/heldout" / f"{name}.png").exists()
    again = dvc(proj, "repro", "moseq_results", "moseq_apply")
    assert not ran_stages(again), "second dvc repro reran stages"
    # forced reruns under two hash seeds (kpms orders recordings by a set): same bytes, same dvc.lock
    locks = []
    for seed in ("0", "1"):
        monkeypatch.setenv("PYTHONHASHSEED", seed)
        assert ran_stages(dvc(proj, "repro", "-f", "-s", "moseq_results")) == {"moseq_results"}
        locks.append((proj / "dvc.lock").read_text())
    assert locks[0] == locks[1]
    # the keypoint files in moseq.load.input_dir are moseq_load's deps: replacing one makes it stale
    raw = sorted((proj / "data/raw/moseq").glob("session_*.h5"))
    other = raw[-1].read_bytes()
    raw[0].unlink()
    raw[0].write_bytes(other)
    stale = json.loads(dvc(proj, "status", "--json", "moseq_load").stdout)
    assert any("changed deps" in e for e in stale.get("moseq_load", [])), stale
