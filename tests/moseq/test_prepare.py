"""Loading and cleaning keypoints, latent_dim selection, params, demo data (no model fitting)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.params import load_section
from ethoflow.demo.moseq import generate
from ethoflow.moseq.durations import run_lengths
from ethoflow.moseq.io import clean_sessions, nan_fraction, to_float64, tracked_frames
from ethoflow.moseq.params import DemoParams, MoseqComputeOptions, MoseqParams
from ethoflow.moseq.prepare import choose_latent_dim
from ethoflow.moseq.results import syllables_covering


def _session(T=100, K=4, nan_rows=(), nan_frac=0.0, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(T, K, 2)).astype(np.float32)
    c[list(nan_rows)] = np.nan
    if nan_frac:
        m = rng.random((T, K)) < nan_frac
        c[m] = np.nan
    return c


def test_float32_inputs_become_float64_and_nan_confidences_zero():
    c = {"a": _session()}
    p = {"a": np.full((100, 4), np.nan, dtype=np.float32)}
    c64, p64 = to_float64(c, p)
    assert c64["a"].dtype == np.float64 and p64["a"].dtype == np.float64
    assert (p64["a"] == 0).all()
    _, p_default = to_float64(c, None)
    assert (p_default["a"] == 1).all()


def test_track_fragments_shorter_than_min_frames_are_dropped():
    full = _session(200)
    frag = np.full((200, 4, 2), np.nan)
    frag[50:55] = 1.0  # a 5-frame SLEAP-style fragment
    frag2 = np.full((200, 4, 2), np.nan)
    frag2[10:40, 0] = 1.0  # 30 tracked frames (one keypoint): kept at min_frames=30
    coords = {"track0": full, "track7": frag, "track8": frag2}
    confs = {k: np.ones((200, 4)) for k in coords}
    assert tracked_frames(frag) == 5 and tracked_frames(frag2) == 30
    out_c, out_p, rep = clean_sessions(coords, confs, min_frames=30, max_nan_fraction=1.0)
    assert sorted(out_c) == ["track0", "track8"] and sorted(out_p) == sorted(out_c)
    assert rep.fragments == {"track7": 5}


def test_sessions_with_too_many_nans_are_excluded_and_reported():
    coords = {"good": _session(nan_frac=0.05), "bad": _session(nan_frac=0.7, seed=1)}
    confs = {k: np.ones((100, 4)) for k in coords}
    out_c, _, rep = clean_sessions(coords, confs, min_frames=10, max_nan_fraction=0.5)
    assert list(out_c) == ["good"]
    assert set(rep.nan_excluded) == {"bad"} and rep.nan_excluded["bad"] > 0.5
    assert rep.nan_fraction["good"] == pytest.approx(nan_fraction(coords["good"]), abs=1e-6)
    # only the modelled keypoints count
    c = _session()
    c[:, 3] = np.nan
    assert nan_fraction(c) == pytest.approx(0.25)
    assert nan_fraction(c, [0, 1, 2]) == 0.0


def test_nothing_left_is_a_clear_error():
    coords = {"bad": _session(nan_frac=0.9)}
    with pytest.raises(InputError, match="no session left"):
        clean_sessions(coords, {"bad": np.ones((100, 4))}, min_frames=10, max_nan_fraction=0.5)


@pytest.mark.parametrize(
    "ratio, threshold, expected",
    [
        ([0.5, 0.3, 0.15, 0.05], 0.9, 3),
        ([0.5, 0.3, 0.15, 0.05], 0.8, 2),
        ([0.95, 0.05], 0.9, 1),
        ([0.4, 0.3, 0.2], 0.95, 3),
        ([0.5, 0.4, 0.1], 0.9, 2),
    ],
)
def test_latent_dim_is_fewest_pcs_reaching_threshold(ratio, threshold, expected):
    assert choose_latent_dim(np.array(ratio), threshold) == expected


def test_syllable_statistics():
    assert run_lengths(np.array([1, 1, 2, 2, 2, 1])).tolist() == [2, 3, 1]
    assert syllables_covering(np.array([0.5, 0.1, 0.35, 0.05]), 0.9) == 3
    assert syllables_covering(np.array([1.0, 0.0]), 0.9) == 1


def test_params_validation_names_the_key(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"moseq": {"arhmm": {"target_duration_ms": [400, 300]}}}))
    with pytest.raises(ParamsError, match="arhmm"):
        load_section("moseq", MoseqParams, p)
    p.write_text(yaml.safe_dump({"moseq": {"load": {"fps": None}}}))
    with pytest.raises(ParamsError, match="video_dir"):
        load_section("moseq", MoseqParams, p)
    p.write_text(yaml.safe_dump({"moseq": {"pca": {"variance": 0.9}}}))
    with pytest.raises(ParamsError, match="variance"):
        load_section("moseq", MoseqParams, p)
    with pytest.raises(ValueError):
        MoseqComputeOptions(mixed_map_iters=0)
    assert MoseqComputeOptions(parallel_message_passing="force").parallel_message_passing == "force"


def test_project_params_compute_options_validate():
    from ethoflow.config import load_project_params
    from tests.conftest import REPO

    proj = load_project_params(REPO / "params.yaml")
    for stage in ("moseq_arhmm", "moseq_full"):
        MoseqComputeOptions(**(proj.compute.resources(stage).options or {}))


def test_demo_is_deterministic_dlc_h5(tmp_path):
    import pandas as pd

    p = DemoParams(n_sessions=2, n_frames=120, n_keypoints=4)
    a = generate(p, tmp_path / "a")
    b = generate(p, tmp_path / "b")
    assert [f.read_bytes() for f in a] == [f.read_bytes() for f in b]
    df = pd.read_hdf(a[0])
    assert df.columns.names == ["scorer", "bodyparts", "coords"]
    assert list(df.columns.get_level_values("coords")[:3]) == ["x", "y", "likelihood"]
    assert df.shape == (120, 4 * 3)
    c = generate(DemoParams(n_sessions=2, n_frames=120, n_keypoints=4, seed=1), tmp_path / "c")
    assert a[0].read_bytes() != c[0].read_bytes()


@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_multi_animal_deeplabcut_bodyparts_keep_the_files_column_order(tmp_path, suffix):
    """keypoint-moseq's multi-animal DeepLabCut reader returns the names as a set; the arrays follow the
    file's columns, so each name must come back with its own column's values."""
    import pandas as pd

    from ethoflow.moseq.io import load_keypoint_files

    bodyparts = ["tailbase", "snout", "neck", "earL", "earR", "spine"]
    cols = pd.MultiIndex.from_tuples(
        [("dlc", ind, bp, c) for ind in ("mouse1", "mouse2") for bp in bodyparts for c in ("x", "y", "likelihood")],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    frames = 40
    values = np.zeros((frames, len(cols)))
    for j, (_, ind, bp, c) in enumerate(cols):  # x = 10 * (index of the bodypart) + individual, y = frame
        k = bodyparts.index(bp)
        values[:, j] = {"x": 10.0 * k + (ind == "mouse2"), "y": np.arange(frames), "likelihood": 0.9}[c]
    path = tmp_path / f"sessionA{suffix}"
    df = pd.DataFrame(values, columns=cols)
    df.to_hdf(path, key="df_with_missing") if suffix == ".h5" else df.to_csv(path)

    coords, _, names = load_keypoint_files([path], "deeplabcut")
    assert names == bodyparts
    for k, name in enumerate(names):
        np.testing.assert_array_equal(coords["sessionA_mouse1"][:, k, 0], 10.0 * bodyparts.index(name))
