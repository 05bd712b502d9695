"""Noise calibration from labelled frames: keypoint-moseq's confidence-to-error line fitted on
user-labelled vs predicted SLEAP keypoints.

The shared SLEAP file (../shared/data/keypoints/sleap) holds predictions only, no user-labelled
instance, so the fixture is built from it: on its first 40 frames, a user instance is added next to
each predicted one, displaced by the error a known line gives for each point's score (slope -0.5,
intercept 0.3, with 5% jitter); the fit must recover the line."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.calibration import (
    calibrate,
    dlc_labelled_frames,
    dlc_labelled_pairs,
    fit_error_model,
    sleap_labelled_pairs,
)

SLOPE, INTERCEPT = -0.5, 0.3


@pytest.fixture
def labelled_slp(shared_data, tmp_path):
    sio = pytest.importorskip("sleap_io")
    src = shared_data / "keypoints" / "sleap" / "centered_pair_predictions.slp"
    labels = sio.load_slp(str(src), open_videos=False)
    rng = np.random.default_rng(0)
    frames = [lf for lf in labels.labeled_frames if lf.predicted_instances][:40]
    for lf in frames:
        for pred in list(lf.predicted_instances):
            pts = pred.numpy(scores=True)
            err = 10 ** (SLOPE * np.log10(pts[:, 2] + 1e-3) + INTERCEPT) - 1.0
            err *= rng.uniform(0.95, 1.05, err.shape)
            angle = rng.uniform(0, 2 * np.pi, err.shape)
            xy = pts[:, :2] + np.stack([np.cos(angle), np.sin(angle)], 1) * err[:, None]
            lf.instances.append(sio.Instance.from_numpy(xy, skeleton=pred.skeleton, from_predicted=pred))
    labels.labeled_frames = frames
    out = tmp_path / "labelled.slp"
    sio.save_slp(labels, str(out))
    return src, out


def test_the_fit_recovers_the_confidence_to_error_line_and_writes_the_values_kpms_uses(labelled_slp, tmp_path):
    from ethoflow.core.io import read_json

    src, slp = labelled_slp
    pairs = sleap_labelled_pairs(slp)
    assert pairs["error"].size == pairs["confidence"].size == pairs["node"].size > 500
    result = calibrate([str(slp)], tmp_path / "cal" / "error_estimator.json", tmp_path / "cal" / "fit.png")
    assert result["error_estimator"]["slope"] == pytest.approx(SLOPE, abs=0.02)
    assert result["error_estimator"]["intercept"] == pytest.approx(INTERCEPT, abs=0.02)
    assert read_json(tmp_path / "cal" / "error_estimator.json")["error_estimator"] == result["error_estimator"]
    assert 0 < (tmp_path / "cal" / "fit.png").stat().st_size < 1_000_000
    # the file as shared (predictions only) cannot be calibrated: an error naming it
    with pytest.raises(InputError, match=rf"{src}: no user-labelled instance"):
        sleap_labelled_pairs(src)


def test_too_few_points_are_an_error():
    with pytest.raises(InputError, match="3 or more points"):
        fit_error_model(np.array([1.0, 2.0]), np.array([0.5, 0.9]))


# --- DeepLabCut: labelled-data folders next to analyze_videos output -------------------------------
#
# A small DeepLabCut project written the way DeepLabCut lays it out: predictions
# ``videos/<video>DLC_resnet50_calShuffle1_1000.h5`` (200 frames, 4 bodyparts, likelihood spread over
# 0.01-1) and ``labeled-data/<video>/CollectedData_me.h5`` on 30 of its frames, each labelled point
# displaced from the predicted one by the error a known line gives for its likelihood (5% jitter).

DLC_SLOPE, DLC_INTERCEPT = -0.6, 0.4
BODYPARTS = ["snout", "left_ear", "right_ear", "tailbase"]
N_FRAMES = 200


def _line_error(conf, rng):
    err = 10 ** (DLC_SLOPE * np.log10(conf + 1e-3) + DLC_INTERCEPT) - 1.0
    return err * rng.uniform(0.95, 1.05, err.shape)


def _columns(scorer, individuals, coords):
    pd = pytest.importorskip("pandas")
    if individuals is None:
        tuples = [(scorer, b, c) for b in BODYPARTS for c in coords]
        return pd.MultiIndex.from_tuples(tuples, names=["scorer", "bodyparts", "coords"])
    tuples = [(scorer, i, b, c) for i in individuals for b in BODYPARTS for c in coords]
    return pd.MultiIndex.from_tuples(tuples, names=["scorer", "individuals", "bodyparts", "coords"])


def write_dlc_project(root, video, individuals=None, seed=0, frames=None, swap=False, index="path", csv=False):
    """Predictions (N_FRAMES, I, K) and labels on ``frames`` with the known line; ``swap``: the
    predictions list the individuals in the other order (a tracker's identity swap); ``index``:
    ``path`` (one string per image), ``levels`` (DeepLabCut >= 2.2's three levels)."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("tables")
    rng = np.random.default_rng(seed)
    n_ind = 1 if individuals is None else len(individuals)
    centre = np.array([[100.0 + 400.0 * i, 200.0] for i in range(n_ind)])  # animals 400 px apart
    pxy = centre[None, :, None, :] + rng.normal(0, 20, (N_FRAMES, n_ind, len(BODYPARTS), 2))
    conf = rng.uniform(0.01, 1.0, (N_FRAMES, n_ind, len(BODYPARTS)))
    pred = np.concatenate([pxy, conf[..., None]], -1)
    if swap:
        pred = pred[:, ::-1]
    (root / "videos").mkdir(parents=True, exist_ok=True)
    pdf = pd.DataFrame(
        pred.reshape(N_FRAMES, -1),
        columns=_columns("DLC_resnet50_calShuffle1_1000", individuals, ["x", "y", "likelihood"]),
    )
    pred_path = root / "videos" / f"{video}DLC_resnet50_calShuffle1_1000.h5"
    pdf.to_hdf(pred_path, key="df_with_missing", mode="w", format="fixed")

    frames = np.sort(rng.choice(N_FRAMES, 30, replace=False)) if frames is None else np.asarray(frames)
    err = _line_error(conf[frames], rng)
    angle = rng.uniform(0, 2 * np.pi, err.shape)
    lxy = pxy[frames] + np.stack([np.cos(angle), np.sin(angle)], -1) * err[..., None]
    lxy[0, 0, 1] = np.nan  # one bodypart not labelled on one frame
    names = [f"img{f:04d}.png" for f in frames]
    if index == "levels":
        idx = pd.MultiIndex.from_tuples([("labeled-data", video, n) for n in names])
    else:
        idx = pd.Index([f"labeled-data/{video}/{n}" for n in names])
    ldf = pd.DataFrame(lxy.reshape(len(frames), -1), index=idx, columns=_columns("me", individuals, ["x", "y"]))
    folder = root / "labeled-data" / video
    folder.mkdir(parents=True, exist_ok=True)
    labelled = folder / ("CollectedData_me.csv" if csv else "CollectedData_me.h5")
    if csv:
        ldf.to_csv(labelled)
    else:
        ldf.to_hdf(labelled, key="keypoints", mode="w")
    return labelled, pred_path


def test_dlc_single_animal_labelled_data_recovers_the_line_and_writes_the_values(tmp_path):
    from ethoflow.core.io import read_json

    a, pa = write_dlc_project(tmp_path, "mouseA", seed=1)
    b, pb = write_dlc_project(tmp_path, "mouseB", seed=2, index="levels", csv=True)  # DeepLabCut >= 2.2 CSV
    pairs = dlc_labelled_pairs([str(a), str(b)], [str(pa), str(pb)])
    assert pairs["error"].size == 2 * 30 * 4 - 2  # one unlabelled point per video
    assert set(pairs["node"]) == set(BODYPARTS)
    result = calibrate(
        [str(a), str(b)],
        tmp_path / "cal" / "error_estimator.json",
        tmp_path / "cal" / "fit.png",
        0.5,
        "deeplabcut",
        [str(pa), str(pb)],
    )
    assert result["error_estimator"]["slope"] == pytest.approx(DLC_SLOPE, abs=0.02)
    assert result["error_estimator"]["intercept"] == pytest.approx(DLC_INTERCEPT, abs=0.02)
    assert result["r"] < -0.95
    assert result["files"] == [a.name, pa.name, b.name, pb.name]
    assert read_json(tmp_path / "cal" / "error_estimator.json")["error_estimator"] == result["error_estimator"]
    assert 0 < (tmp_path / "cal" / "fit.png").stat().st_size < 1_000_000


def test_dlc_multi_animal_pairs_each_labelled_animal_with_the_nearest_predicted_one(tmp_path):
    labelled, pred = write_dlc_project(tmp_path, "pair", individuals=["m1", "m2"], seed=3, swap=True)
    frames, _ = dlc_labelled_frames(labelled)
    assert frames["pair"][1].shape == (30, 2, 4, 2)  # (frames, individuals, bodyparts, xy)
    pairs = dlc_labelled_pairs([str(labelled)], [str(pred)])
    assert pairs["error"].size == 30 * 2 * 4 - 1
    assert pairs["error"].max() < 60  # the identity swap is not paired across the 400 px
    fit = fit_error_model(pairs["error"], pairs["confidence"])
    assert fit["slope"] == pytest.approx(DLC_SLOPE, abs=0.03)
    assert fit["intercept"] == pytest.approx(DLC_INTERCEPT, abs=0.03)


def test_dlc_errors_name_the_files_bodyparts_and_rows(tmp_path):
    pd = pytest.importorskip("pandas")
    labelled, pred = write_dlc_project(tmp_path, "mouseA", frames=[10, 20, 30])
    # no frames in common: labels of frames past the 200 the predictions cover
    late = tmp_path / "late" / "CollectedData_me.h5"
    late.parent.mkdir()
    df = pd.read_hdf(labelled)
    df.index = pd.Index([f"labeled-data/mouseA/img{f:04d}.png" for f in (205, 209, 300)])
    df.to_hdf(late, key="keypoints", mode="w")
    with pytest.raises(
        InputError, match=rf"{late}: no labelled frame of video 'mouseA'.* among the 200 frames of {pred}"
    ):
        dlc_labelled_pairs([str(late)], [str(pred)])
    # no predictions for the labelled video: named
    with pytest.raises(InputError, match=rf"{labelled}: video 'mouseA': no predictions file named mouseADLC_"):
        dlc_labelled_pairs([str(labelled)], [str(tmp_path / "otherDLC_x.h5")])
    # two predictions files of the video (filtered and unfiltered): named, one wanted
    filtered = pred.with_name(pred.stem + "_filtered.h5")
    filtered.write_bytes(pred.read_bytes())
    with pytest.raises(InputError, match=rf"2 predictions files \['{pred.name}', '{filtered.name}'\]"):
        dlc_labelled_pairs([str(labelled)], [str(pred), str(filtered)])
    # bodyparts that differ: named on both sides
    df = pd.read_hdf(labelled).rename(columns={"tailbase": "tail_base"}, level="bodyparts")
    df.to_hdf(labelled, key="keypoints", mode="w")
    with pytest.raises(InputError, match=r"only labelled \['tail_base'\], only predicted \['tailbase'\]"):
        dlc_labelled_pairs([str(labelled)], [str(pred)])
    # an image name without a frame number: the file and row named
    df.index = pd.Index(
        ["labeled-data/mouseA/img0010.png", "labeled-data/mouseA/frame.png", "labeled-data/mouseA/img0030.png"]
    )
    df.to_hdf(labelled, key="keypoints", mode="w")
    with pytest.raises(
        InputError, match=rf"{labelled}: row 1: image name 'labeled-data/mouseA/frame.png' has no frame number"
    ):
        dlc_labelled_frames(labelled)


def test_the_stage_reads_a_deeplabcut_set_from_params(tmp_path):
    from ethoflow.moseq.params import MoseqParams
    from ethoflow.moseq.stages import run_moseq_calibrate

    pd = pytest.importorskip("pandas")
    a, _ = write_dlc_project(tmp_path / "data" / "dlc", "mouseA", seed=4)
    pd.read_hdf(a).to_csv(a.with_suffix(".csv"))  # DeepLabCut writes both: read once
    write_dlc_project(tmp_path / "data" / "dlc", "mouseB", seed=5, csv=True)
    spec = {
        "format": "deeplabcut",
        "input_dir": "data/dlc",
        "paths": ["data/dlc/labeled-data/*/CollectedData_*.*"],
        "predictions": ["data/dlc/videos/*DLC_*.h5"],
    }
    cfg = MoseqParams(calibration={"lab": spec})
    result = run_moseq_calibrate(cfg, set_name="lab", out=tmp_path / "out", plot=tmp_path / "lab.png", root=tmp_path)
    assert result["n"] == 2 * (30 * 4 - 1)
    assert result["error_estimator"]["slope"] == pytest.approx(DLC_SLOPE, abs=0.02)
    assert result["conf_threshold"] == cfg.model.conf_threshold
    # a pattern that matches nothing names its params key
    cfg = MoseqParams(calibration={"lab": {**spec, "predictions": ["data/dlc/videos/*.csv"]}})
    with pytest.raises(
        InputError, match=r"moseq.calibration.lab.predictions: 'data/dlc/videos/\*.csv' matches no file"
    ):
        run_moseq_calibrate(cfg, set_name="lab", out=tmp_path / "out", plot=tmp_path / "lab.png", root=tmp_path)
    # a deeplabcut set needs its predictions; a sleap set takes none
    with pytest.raises(ValueError, match="format deeplabcut needs predictions"):
        MoseqParams(calibration={"lab": {**spec, "predictions": []}})
    with pytest.raises(ValueError, match="format sleap takes no predictions"):
        MoseqParams(calibration={"lab": {**spec, "format": "sleap"}})


def test_labels_identical_to_the_predictions_are_an_error_not_a_flat_line():
    # DeepLabCut's own example projects hold labels equal to the predictions: no line to fit
    with pytest.raises(InputError, match="all 4 labelled keypoints lie 0 px from the predicted ones"):
        fit_error_model(np.zeros(4), np.array([0.2, 0.5, 0.9, 0.99]))


def test_image_names_give_video_and_frame_in_every_layout_deeplabcut_writes(tmp_path):
    pd = pytest.importorskip("pandas")
    labelled, _ = write_dlc_project(tmp_path, "mouseA", frames=[7, 42, 150])
    df = pd.read_hdf(labelled)
    # a project labelled on Windows: backslashes; and a bare image name (the folder is the video)
    df.index = pd.Index(["labeled-data\\mouseA\\img007.png", "labeled-data\\mouseA\\img042.png", "img150.png"])
    df.to_hdf(labelled, key="keypoints", mode="w")
    videos, bodyparts = dlc_labelled_frames(labelled)
    assert list(videos) == ["mouseA"] and bodyparts == BODYPARTS
    assert videos["mouseA"][0].tolist() == [7, 42, 150]
