"""NaN/Inf audio samples: an error by default, or (acoustic.corpus.nonfinite: skip) every window touching them
left out and each span reported; never NaN probabilities, and calls elsewhere on the tape still detected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ethoflow.acoustic.frontend.features import detection_features
from ethoflow.acoustic.inference.detect import TapeReader, detect_set, load_detector, stream_windows
from ethoflow.acoustic.inference.predict import StreamOptions, predict_recordings
from ethoflow.acoustic.params import AcousticParams, DemoParams, PredictSetting, RFParams
from ethoflow.core import InputError, read_json
from tests.acoustic.test_detect import _tiny_framewise, _tiny_model
from tests.fixtures.tiny import ACOUSTIC_DEMO as TINY_DEMO

SPAN = (3.0, 3.25)  # s: NaN samples, and one +Inf inside
INF_AT = 3.1


@pytest.fixture(scope="module")
def tapes(tmp_path_factory):
    """A demo recording (16 kHz float WAV, 8 s, calls) as ``clean.wav`` and the same with NaN samples over
    3.0-3.25 s and an infinite one at 3.1 s as ``bad.wav``; a tiny window classifier and framewise model."""
    from ethoflow.demo.acoustic import generate

    d = tmp_path_factory.mktemp("nonfinite")
    generate(d / "corpus", DemoParams(**TINY_DEMO).model_copy(update={"n_tapes": 1}))
    y, sr = sf.read(sorted((d / "corpus").glob("*.wav"))[0], dtype="float32")
    (d / "tapes").mkdir()
    sf.write(d / "tapes" / "clean.wav", y, sr, subtype="FLOAT")
    y[int(SPAN[0] * sr) : int(SPAN[1] * sr)] = np.nan
    y[int(INF_AT * sr)] = np.inf
    sf.write(d / "bad.wav", y, sr, subtype="FLOAT")
    return d, sr, _tiny_model(d / "model.pt"), _tiny_framewise(d / "fw.pt")


def _windows(model: Path, file: Path, nonfinite: str, chunk_s: float) -> tuple[pd.DataFrame, list[dict]]:
    det = load_detector(model)
    r = TapeReader(file, det.sr, nonfinite)
    try:
        return stream_windows(det, r, 0.4, 0.1, batch_size=4, chunk_s=chunk_s), r.skipped_spans()
    finally:
        r.close()


@pytest.mark.parametrize("kind", ["window classifier", "framewise"])
def test_fail_names_the_first_bad_sample_and_skip_leaves_out_the_windows_touching_the_span(tapes, kind):
    """Streamed (chunks of 0.4 s) and in one chunk (the whole tape): ``fail`` names the file and the time of
    the first NaN; ``skip`` reports the span (3.0-3.25 s, 4000 samples), leaves out exactly the windows
    whose samples (half an FFT and a hop beyond them included) touch it, and every other window is as on the clean tape
    (framewise: beyond the network's context), with nothing NaN."""
    d, sr, model, fw = tapes
    path = model if kind == "window classifier" else fw
    with pytest.raises(InputError, match=r"bad\.wav: NaN sample at 3\.000000 s \(frame 48000;"):
        _windows(path, d / "bad.wav", "fail", 0.4)
    clean, _ = _windows(path, d / "tapes" / "clean.wav", "fail", 1000.0)
    reach = (512 // 2 + 256 + 1) / sr  # half an FFT, a hop (the first frame is rounded), the pre-emphasis sample
    touch = (clean.start_s - reach < SPAN[1]) & (clean.end_s + reach > SPAN[0])
    far = (clean.end_s < SPAN[0] - 1.0) | (clean.start_s > SPAN[1] + 1.0)  # beyond the framewise context
    for chunk_s in (0.4, 1000.0):
        win, spans = _windows(path, d / "bad.wav", "skip", chunk_s)
        assert spans == [{"start_s": 3.0, "end_s": 3.25, "samples": 4000}]
        assert np.isfinite(win[["start_s", "end_s", "prob", "logit"]].to_numpy()).all()
        assert win.start_s.tolist() == clean.start_s[~touch].tolist()  # the touching windows, and only they, left out
        assert touch.sum() >= 3 and len(win) == len(clean) - touch.sum()
        kept = clean[~touch].reset_index(drop=True)
        sel = far[~touch].to_numpy() if kind == "framewise" else np.ones(len(win), bool)
        np.testing.assert_allclose(win.prob[sel], kept.prob[sel], rtol=0, atol=1e-6)


def test_predict_reports_each_skipped_span_per_recording(tapes, tmp_path):
    d, _, model, _ = tapes
    recs = [
        {"tape": "T", "recording": r, "file": str(f), "duration_s": 8.0}
        for r, f in (("clean", d / "tapes" / "clean.wav"), ("bad", d / "bad.wav"))
    ]
    out = tmp_path / "p.parquet"
    with pytest.raises(InputError, match=r"bad\.wav: NaN sample at 3\.000000 s"):
        predict_recordings(str(model), recs, PredictSetting(seq_len_s=0.4, hop_s=0.1), str(out), 4)
    s = predict_recordings(
        str(model), recs, PredictSetting(seq_len_s=0.4, hop_s=0.1), str(out), 4, stream=StreamOptions(nonfinite="skip")
    )
    assert s["nonfinite_skipped"] == 1
    assert s["nonfinite_spans"] == {"bad": [{"start_s": 3.0, "end_s": 3.25, "samples": 4000}]}
    df = pd.read_parquet(out)
    assert df.attrs["nonfinite_spans"] == s["nonfinite_spans"]  # for acoustic_evaluate's metrics
    assert not df.isna().any().any() and (df.recording == "clean").sum() == 79 > (df.recording == "bad").sum()


def test_detect_skip_reports_spans_in_summary_and_metrics_and_still_detects_calls_elsewhere(tapes, tmp_path):
    """The same tape clean and with the NaN span: every detection of the clean tape that keeps clear of the
    span is found on the bad one too, no detection starts inside the span, band and probability never NaN."""
    d, _, model, _ = tapes
    (tmp_path / "tapes").mkdir()
    (tmp_path / "tapes" / "bad.wav").write_bytes((d / "bad.wav").read_bytes())
    (tmp_path / "model.pt").write_bytes(model.read_bytes())
    clean_dir = tmp_path / "clean"
    (clean_dir / "tapes").mkdir(parents=True)
    (clean_dir / "tapes" / "bad.wav").write_bytes((d / "tapes" / "clean.wav").read_bytes())
    (clean_dir / "model.pt").write_bytes(model.read_bytes())

    def cfg(root: Path, nonfinite: str, thr: float) -> AcousticParams:
        s = dict(data_dir=str(root), recordings=str(root / "tapes"), model=str(root / "model.pt"), threshold=thr)
        return AcousticParams(
            corpus={"nonfinite": nonfinite},
            predict={"settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.1}}},
            evaluate={"min_gap_s": 0.0, "min_dur_s": 0.0, "boundary": "full"},
            detect={"sets": {"demo": s}, "batch_size": 8, "num_threads": 1},
        )

    # threshold at the clean tape's median window probability: detections on both sides of the span
    thr = float(np.median(_windows(model, d / "tapes" / "clean.wav", "fail", 1000.0)[0].prob))
    clean = detect_set(cfg(clean_dir, "skip", thr), "demo", clean_dir / "out")
    failed = detect_set(cfg(tmp_path, "fail", thr), "demo", tmp_path / "out-fail")
    assert "bad.wav: NaN sample at 3.000000 s" in failed["problems"][0]["problem"]
    bad = detect_set(cfg(tmp_path, "skip", thr), "demo", tmp_path / "out")
    spans = [{"start_s": 3.0, "end_s": 3.25, "samples": 4000}]
    assert bad["recordings"][0]["nonfinite_spans"] == spans and clean["recordings"][0]["nonfinite_spans"] == []
    assert read_json(tmp_path / "out" / "metrics.json")["nonfinite_spans"] == 1
    assert bad["metrics"]["nonfinite_spans"] == 1 and clean["metrics"]["nonfinite_spans"] == 0
    db = pd.read_parquet(tmp_path / "out" / "detections.parquet")
    dc = pd.read_parquet(clean_dir / "out" / "detections.parquet")
    assert len(db) >= 2 and np.isfinite(db[["start_s", "end_s", "prob_max", "low_hz", "high_hz"]].to_numpy()).all()
    assert not ((db.start_s >= SPAN[0]) & (db.start_s < SPAN[1])).any()
    away = dc[(dc.end_s < SPAN[0] - 0.1) | (dc.start_s > SPAN[1] + 0.1)]
    assert len(away) >= 2 and (dc.start_s < SPAN[0]).any() and (dc.start_s > SPAN[1]).any()
    for r in away.itertuples():
        assert ((db.start_s - r.start_s).abs() < 1e-9).any()  # a call away from the span is still detected


def test_rf_features_fail_or_read_the_span_as_zeros_and_report_it(tapes):
    d, _, _, _ = tapes
    det = pd.DataFrame(
        {"recording": ["bad"] * 2, "start_s": [2.9, 5.0], "end_s": [3.4, 5.5], "cnn_logit_mean": [0.1, 0.2]}
    )
    files = {"bad": str(d / "bad.wav")}
    with pytest.raises(InputError, match=r"bad\.wav: NaN sample at 3\.000000 s"):
        detection_features(det, files, RFParams())
    f = detection_features(det, files, RFParams(), nonfinite="skip")
    assert len(f) == 2 and np.isfinite(f.to_numpy(float)).all()
    assert f.attrs["nonfinite_spans"] == {"bad": [{"start_s": 3.0, "end_s": 3.25, "samples": 4000}]}


def test_animal_spot_model_skips_exactly_the_windows_holding_a_bad_sample(shared_data, tmp_path):
    """ANIMAL-SPOT computes each window from its own samples: with NaN over 4.0-4.1 s of the shared tape (5 s),
    the windows holding one of them are left out and every other window equals the
    clean tape's."""
    d = shared_data / "audio" / "animal-spot"
    if not (d / "model.pk").is_file():
        pytest.skip(f"{d} has no model.pk")
    y, sr = sf.read(d / "tape.wav", dtype="float32", frames=5 * 48000)  # its first 5 s: a short test
    sf.write(tmp_path / "clean.wav", y, sr, subtype="FLOAT")
    y[192000:196800] = np.nan  # 4.0-4.1 s at 48 kHz
    sf.write(tmp_path / "bad.wav", y, sr, subtype="FLOAT")
    clean, _ = _windows(d / "model.pk", tmp_path / "clean.wav", "fail", 1000.0)
    touch = (clean.start_s < 4.1) & (clean.end_s > 4.0)
    win, spans = _windows(d / "model.pk", tmp_path / "bad.wav", "skip", 0.8)  # streamed, chunks of 0.8 s
    assert spans == [{"start_s": 4.0, "end_s": 4.1, "samples": 4800}]
    assert win.start_s.tolist() == clean.start_s[~touch].tolist() and touch.sum() == 4
    np.testing.assert_allclose(win.prob, clean.prob[~touch], rtol=0, atol=1e-7)
