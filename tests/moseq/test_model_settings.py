"""keypoint-moseq settings from params reach kpms (moseq.model: conf_threshold in the PCA's config,
seg_length in the formatted data, num_states in the model), and the validation figures drawn by kpms
(PC plot, trajectory plot, duration distribution) are written. Tiny demo data, no model fitting."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import ParamsError
from ethoflow.demo.moseq import generate
from ethoflow.moseq import fit, io, prepare
from ethoflow.moseq.params import DemoParams, MoseqParams

N_FRAMES = 300


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two 300-frame demo sessions through moseq_load, moseq_outliers and moseq_pca, with
    conf_threshold 0.3 and a skeleton."""
    pytest.importorskip("keypoint_moseq")
    root = tmp_path_factory.mktemp("tiny")
    generate(DemoParams(n_sessions=2, n_heldout=0, n_frames=N_FRAMES, n_keypoints=5), root / "raw")
    cfg = MoseqParams(
        load={"paths": [str(root / "raw")]},
        outliers={"plot_dpi": 30},
        model={"conf_threshold": 0.3},
        skeleton=[["head", "spine1"], ["spine1", "spine2"]],
    )
    prepare.load(cfg, root / "load", root=root)
    prepare.outliers(cfg, root / "load", root / "outliers", root / "qa")
    prepare.pca(cfg, root / "outliers", root / "pca", root / "scree.png", root / "pca.json", pcs_png=root / "pcs.png")
    return {"root": root, "cfg": cfg, "keypoints": str(root / "outliers" / "keypoints.p"), "pca": str(root / "pca")}


def test_conf_threshold_is_written_into_the_config_later_stages_start_from(tiny):
    assert io.read_kpms_config(tiny["pca"])["conf_threshold"] == 0.3


def test_pc_plot_is_written_and_an_unknown_skeleton_bodypart_is_refused(tiny):
    import keypoint_moseq as kpms

    from ethoflow.moseq.validation import pcs_figure

    png = tiny["root"] / "pcs.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 1_000_000
    config = io.read_kpms_config(tiny["pca"])
    with pytest.raises(ParamsError, match=r"moseq.skeleton: \['nose'\]"):
        pcs_figure(kpms.load_pca(tiny["pca"]), config, [["head", "nose"]], tiny["root"] / "bad.png")


def test_seg_length_sets_the_segments_of_the_formatted_data(tiny):
    data, metadata = fit.format_for_model(*_keypoints(tiny), io.read_kpms_config(tiny["pca"]), 100)
    # kpms cuts each session into segments of seg_length frames plus 30 frames of overlap
    assert data["Y"].shape[:2] == (2 * N_FRAMES // 100, 130)
    assert sorted(set(metadata[0])) == ["session_0", "session_1"]
    default, _ = fit.format_for_model(*_keypoints(tiny), io.read_kpms_config(tiny["pca"]), None)
    assert default["Y"].shape[1] != 130
    with pytest.raises(ParamsError, match="moseq.model.seg_length 299"):  # leaves a 1-frame segment
        fit.format_for_model(*_keypoints(tiny), io.read_kpms_config(tiny["pca"]), 299)


def test_num_states_is_the_models_number_of_states(tiny):
    import keypoint_moseq as kpms

    data, _, config = fit._formatted(tiny["keypoints"], tiny["pca"], 100)
    model = fit.init_arhmm(data, kpms.load_pca(tiny["pca"]), config, seed=0, kappa=1e4, num_states=7)
    assert np.asarray(model["params"]["pi"]).shape == (7, 7)
    assert int(model["hypparams"]["trans_hypparams"]["num_states"]) == 7
    assert float(model["hypparams"]["trans_hypparams"]["kappa"]) == 1e4


def test_model_settings_are_validated():
    for bad in ({"num_states": 1}, {"conf_threshold": -0.1}, {"seg_length": 0}, {"seed": 3}):
        with pytest.raises(ValueError, match="model"):
            MoseqParams(model=bad)


def test_trajectory_plot_and_duration_distribution_are_written(tiny):
    from ethoflow.moseq.validation import duration_figure, trajectory_figure

    coords, _ = _keypoints(tiny)
    config = io.read_kpms_config(tiny["pca"])
    results = {}
    for name, xy in coords.items():
        syllable = (np.arange(N_FRAMES) // 12) % 4  # runs of 12 frames, 4 syllables
        results[name] = {"syllable": syllable, "centroid": np.nanmean(xy, axis=1), "heading": np.zeros(N_FRAMES)}
    png = tiny["root"] / "trajectories.png"
    assert trajectory_figure(results, coords, config, tiny["cfg"].skeleton, png)
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size < 1_000_000
    dur = tiny["root"] / "durations.png"
    duration_figure(results, 30.0, (300.0, 400.0), dur)
    assert dur.read_bytes()[:4] == b"\x89PNG"


def _keypoints(tiny):
    coords, confs, _ = io.load_keypoints_pickle(tiny["keypoints"])
    return coords, confs


def test_outliers_without_a_plots_folder_clean_the_same_keypoints_and_draw_nothing(tiny):
    """``plots_dir`` None (library use; the real-fit tests, where the QA plots cost ~1 s per session):
    byte-identical cleaned keypoints, and no plot written anywhere."""
    root = tiny["root"]
    before = sorted(p.relative_to(root) for p in root.rglob("*.png"))
    frac = prepare.outliers(tiny["cfg"], root / "load", root / "outliers-noplots", None)
    assert set(frac) == {"session_0", "session_1"}
    assert (root / "outliers-noplots" / "keypoints.p").read_bytes() == (root / "outliers" / "keypoints.p").read_bytes()
    assert sorted(p.relative_to(root) for p in root.rglob("*.png")) == before
    assert len(list((root / "qa").glob("*.png"))) == 2
