"""acoustic_detect: detection sets on unannotated recordings (streamed, resumable, bad files reported)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ethoflow.acoustic.frontend.features import energy_band
from ethoflow.acoustic.frontend.spectrogram import load_audio
from ethoflow.acoustic.inference.detect import (
    TapeReader,
    audio_problem,
    detect_set,
    list_recordings,
    load_detector,
    stream_windows,
)
from ethoflow.acoustic.params import AcousticParams, DemoParams, FeatureParams
from ethoflow.core import InputError, read_json
from tests.fixtures.tiny import ACOUSTIC_DEMO as TINY_DEMO
from tests.fixtures.tiny import ACOUSTIC_FEATURES as TINY_FEATURES

RAVEN_COLUMNS = [
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
    "Annotation",
]
REPO = Path(__file__).resolve().parents[2]


def _tiny_model(path: Path) -> Path:
    """A seeded, untrained ethoflow model file with the tiny front end (enough to exercise detection)."""
    import torch

    from ethoflow.acoustic.models.model import CallClassifier

    torch.manual_seed(0)
    m = CallClassifier(2, 18, 4).eval()
    f = FeatureParams(**TINY_FEATURES)
    torch.save({"state_dict": m.state_dict(), "model": m.config, "classes": ["call"], "features": f.model_dump()}, path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A detection folder: the demo's held-out tape (FLAC at 22.05 kHz, truth kept apart), two corpus-style
    WAVs at 16 kHz, a model file; threshold = median window probability so detections exist."""
    from ethoflow.demo.acoustic import generate, generate_heldout

    d = tmp_path_factory.mktemp("detect")
    p = DemoParams(**TINY_DEMO, heldout_s=12.0, heldout_sr=22050)
    generate_heldout(d, p)
    generate(d / "corpus", p.model_copy(update={"n_tapes": 1}))
    for w in (d / "corpus").glob("*.wav"):
        os.replace(w, d / "tapes" / w.name)
    _tiny_model(d / "model.pt")
    det = load_detector(d / "model.pt")
    r = TapeReader(d / "tapes" / "H01.flac", det.sr)
    thr = float(np.median(stream_windows(det, r, 0.4, 0.1, 8).prob))
    return d, thr


def _cfg(d: Path, thr: float, **over) -> AcousticParams:
    s = dict(data_dir=str(d), recordings=str(d / "tapes"), model=str(d / "model.pt"), threshold=thr)
    s.update(over)
    return AcousticParams(
        predict={"settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.1}}},
        detect={"sets": {"demo": s}, "batch_size": 8, "num_threads": 1},
    )


def test_streamed_windows_equal_the_whole_tape_for_any_chunk_size(data):
    """Chunks of 8 windows (0.8 s), resampled from 22.05 kHz: same windows and probabilities as one pass."""
    from ethoflow.acoustic.frontend.spectrogram import recording_power
    from ethoflow.acoustic.inference.predict import predict_power

    d, _ = data
    det = load_detector(d / "model.pt")
    for file in (d / "tapes" / "H01.flac", d / "tapes" / "T01_r1.wav"):
        r = TapeReader(file, det.sr)
        streamed = stream_windows(det, r, 0.4, 0.1, batch_size=4, chunk_s=0.4)
        whole = predict_power(det.model, recording_power(file, det.features), det.features, r.duration_s, 0.4, 0.1, 4)
        assert streamed.start_s.tolist() == whole.start_s.tolist()
        assert streamed.end_s.tolist() == whole.end_s.tolist()
        np.testing.assert_allclose(streamed.logit, whole.logit, rtol=0, atol=1e-6)


def test_tape_reader_resamples_pieces_exactly_as_the_whole_file(data):
    from ethoflow.acoustic.frontend.spectrogram import load_audio

    d, _ = data
    file = d / "tapes" / "H01.flac"
    y = load_audio(file, 16000)
    r = TapeReader(file, 16000)
    assert r.n == len(y)
    for a, b in ((0, 1000), (12345, 40000), (len(y) - 500, len(y) + 100), (-10, 5)):
        want = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, len(y))
        want[lo - a : hi - a] = y[lo:hi]
        np.testing.assert_allclose(r.read(a, b), want, atol=1e-6)


def test_streamed_animal_spot_windows_equal_predict_tape(shared_data):
    from ethoflow.acoustic.models.animal_spot import predict_tape

    d = shared_data / "audio" / "animal-spot"
    if not (d / "model.pk").is_file():
        pytest.skip(f"{d} has no model.pk")
    det = load_detector(d / "model.pk")
    assert det.kind == "animal_spot"
    r = TapeReader(d / "tape.wav", det.sr)
    streamed = stream_windows(det, r, 0.4, 0.05, batch_size=16, chunk_s=0.8)
    whole = predict_tape(det.model, det.fe, det.classes, d / "tape.wav", 0.4, 0.05, 16)
    assert len(streamed) == len(whole) == 193
    assert streamed.start_s.tolist() == whole.start_s.tolist()
    np.testing.assert_allclose(streamed.prob, whole.prob, rtol=0, atol=1e-7)


def test_detection_set_writes_raven_tables_parquet_metrics_timelines_and_scores_hidden_truth(data, tmp_path):
    d, thr = data
    cfg = _cfg(d, thr, truth=str(d / "truth"))
    summary = detect_set(cfg, "demo", tmp_path / "out")
    out = tmp_path / "out"
    recs = ["H01", "T01_r1", "T01_r2"]
    assert [r["recording"] for r in summary["recordings"]] == recs
    det = pd.read_parquet(out / "detections.parquet")
    assert len(det) > 0 and set(det.recording) <= set(recs)
    for rid in recs:
        t = pd.read_csv(out / "selections" / f"{rid}.Table.1.selections.txt", sep="\t")
        assert list(t.columns) == RAVEN_COLUMNS + ["prob_max", "cnn_logit_mean"]
        assert (out / "timelines" / f"{rid}.png").is_file()
    h = pd.read_csv(out / "selections" / "H01.Table.1.selections.txt", sep="\t")
    assert (h["High Freq (Hz)"] > h["Low Freq (Hz)"]).any()  # a band from the spectrum, not 0.0
    assert (h["High Freq (Hz)"] <= 4000).all()
    m = read_json(out / "metrics.json")
    assert m["recordings"] == 3 and m["detections"] == len(det) and m["skipped"] == 0
    assert m["hours"] == pytest.approx((12 + 8 + 8) / 3600, rel=1e-4)
    assert m["detections_per_min"] == pytest.approx(len(det) / (28 / 60), rel=1e-4)
    truth = pd.read_csv(d / "truth" / "H01.Table.1.selections.txt", sep="\t")
    assert m["recordings_scored"] == 1 and m["tp"] + m["fn"] == len(truth)
    assert 0 <= m["f1"] <= 1


def test_bad_files_are_reported_per_file_or_stop_the_stage(data, tmp_path):
    d, thr = data
    tapes = tmp_path / "tapes"
    tapes.mkdir()
    good = d / "tapes" / "T01_r1.wav"
    (tapes / "ok.wav").write_bytes(good.read_bytes())
    (tapes / "empty.wav").write_bytes(b"")
    (tapes / "junk.flac").write_bytes(b"not audio at all" * 10)
    b = good.read_bytes()
    (tapes / "cut.wav").write_bytes(b[: len(b) // 2])
    fl = (d / "tapes" / "H01.flac").read_bytes()
    (tapes / "cutflac.flac").write_bytes(fl[: len(fl) // 2])  # header intact: found while decoding
    sf.write(tapes / "silent.wav", np.zeros(0, np.int16), 16000, subtype="PCM_16")
    y, sr = sf.read(good, dtype="float32")
    y[int(1.5 * sr) :: 997] = np.nan  # a float WAV with NaN samples from 1.5 s on
    sf.write(tapes / "nan.wav", y, sr, subtype="FLOAT")
    assert "truncated" in audio_problem(tapes / "cut.wav")
    assert audio_problem(tapes / "ok.wav") is None
    (tmp_path / "model.pt").write_bytes((d / "model.pt").read_bytes())
    cfg = _cfg(tmp_path, thr)
    summary = detect_set(cfg, "demo", tmp_path / "out")
    probs = {p["recording"]: p["problem"] for p in summary["problems"]}
    assert sorted(probs) == ["cut", "cutflac", "empty", "junk", "nan", "silent"]
    assert "truncated" in probs["cut"] and "truncated" in probs["cutflac"] and "empty" in probs["silent"]
    assert "nan.wav: NaN sample at 1.500000 s" in probs["nan"]  # never NaN probabilities
    assert [r["recording"] for r in summary["recordings"]] == ["ok"]
    assert read_json(tmp_path / "out" / "metrics.json")["skipped"] == 6
    with pytest.raises(InputError, match=r"nan\.wav: NaN sample at 1\.500000 s \(frame 24000;"):
        load_audio(tapes / "nan.wav", 16000)  # the whole-file reader (training, prediction) says the same
    with pytest.raises(InputError, match=r"cut\.wav: truncated.*junk\.flac: unreadable|cut\.wav.*empty\.wav"):
        detect_set(_cfg(tmp_path, thr, on_error="fail"), "demo", tmp_path / "out2")


def test_recordings_from_a_glob_and_an_untracked_model_path_is_refused(data):
    d, thr = data
    recs = list_recordings(str(d / "tapes" / "*.wav"))
    assert [r for r, _ in recs] == ["T01_r1", "T01_r2"]
    one = list_recordings(str(d / "tapes" / "T01_r2.wav"))  # one file as the set's recordings
    assert [(r, p.name) for r, p in one] == [("T01_r2", "T01_r2.wav")]
    with pytest.raises(ValueError, match="outside data_dir"):
        _cfg(d / "tapes", thr, model="/elsewhere/ANIMAL-SPOT.pk")


def test_energy_band_of_a_tone_brackets_its_frequency():
    sr = 16000
    t = np.arange(sr // 2) / sr
    lo, hi = energy_band(np.sin(2 * np.pi * 1500 * t), sr, 0, 8000)
    assert 1300 < lo <= 1500 <= hi < 1700
    assert energy_band(np.zeros(100), sr, 200, 4000) == (200.0, 200.0)


KILL_SCRIPT = """
import sys, time
import os
from ethoflow.core import numerics
_mode = os.environ.get(numerics.ENV_APPLIED, 'fast')  # the test process's mode: oneDNN off when portable
numerics.apply_runtime(*((_mode.split(':')[0], int(_mode.split(':')[1])) if ':' in _mode else ('fast', 0)))
import ethoflow.acoustic.inference.detect as d
from ethoflow.acoustic.params import AcousticParams
import json
orig = d.write_json
def slow(path, obj):
    orig(path, obj)
    if str(path).endswith(".json") and "/state/" in str(path):
        print("DONE", flush=True)
        time.sleep(30)
d.write_json = slow
cfg = AcousticParams.model_validate(json.loads(sys.argv[1]))
d.detect_set(cfg, "demo", sys.argv[2])
"""


def _outputs(out: Path) -> dict[str, bytes]:
    files = sorted(p for p in out.rglob("*") if p.is_file() and "state" not in p.parts)
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def test_kill_9_mid_run_then_rerun_resumes_and_gives_the_same_outputs(data, tmp_path):
    d, thr = data
    cfg = _cfg(d, thr, truth=str(d / "truth"))
    detect_set(cfg, "demo", tmp_path / "clean")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), ETHOFLOW_PROGRESS="0")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, cfg.model_dump_json(), str(tmp_path / "killed")],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "DONE"  # first recording recorded, the run sleeps
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = tmp_path / "killed" / "state"
    assert sorted(p.name for p in state.glob("*.json")) == ["H01.json"]
    t0 = (state / "H01.windows.parquet").stat().st_mtime_ns
    time.sleep(0.01)
    detect_set(cfg, "demo", tmp_path / "killed")
    assert (state / "H01.windows.parquet").stat().st_mtime_ns == t0  # resumed, not recomputed
    assert _outputs(tmp_path / "killed") == _outputs(tmp_path / "clean")


def test_auto_threshold_of_a_variant_model_uses_the_values_chosen_on_its_validation_tapes(data, tmp_path, monkeypatch):
    import shutil

    from ethoflow.core import write_json

    d, thr = data
    monkeypatch.chdir(tmp_path)  # the variant's model: models/acoustic/v1/model.pt under the project root
    (tmp_path / "models" / "acoustic" / "v1").mkdir(parents=True)
    shutil.copy(d / "model.pt", tmp_path / "models" / "acoustic" / "v1" / "model.pt")
    chosen = {"threshold": round(thr, 6), "min_gap_s": 0.2, "min_dur_s": 0.15, "auto": ["threshold", "min_gap_s"]}
    write_json(tmp_path / "evals" / "v1-default" / "postprocess.json", chosen)

    def cfg(threshold, **ev):
        c = _cfg(d, threshold, model="v1", recordings=str(d / "tapes" / "H01.*"))
        return AcousticParams(**(c.model_dump() | {"variants": {"v1": {}}, "evaluate": c.evaluate.model_dump() | ev}))

    auto = detect_set(cfg("auto", min_gap_s="auto", min_dur_s=0.15), "demo", tmp_path / "auto", evaluations="evals")
    assert (auto["threshold"], auto["min_gap_s"], auto["min_dur_s"]) == (round(thr, 6), 0.2, 0.15)
    assert auto["postprocess_from"] == str(Path("evals") / "v1-default" / "postprocess.json")
    fixed = detect_set(cfg(round(thr, 6), min_gap_s=0.2, min_dur_s=0.15), "demo", tmp_path / "fixed")
    assert fixed["postprocess_from"] is None
    same = _outputs(tmp_path / "auto"), _outputs(tmp_path / "fixed")
    assert [{k: v for k, v in o.items() if k != "summary.json"} for o in same][0] == {
        k: v for k, v in same[1].items() if k != "summary.json"
    }


def test_evaluate_detection_bands_come_from_each_detections_spectrum(tmp_path):
    from ethoflow.acoustic.frontend.features import detection_bands

    sr = 16000
    t = np.arange(2 * sr) / sr
    y = np.where(t < 1, np.sin(2 * np.pi * 800 * t), np.sin(2 * np.pi * 2500 * t)).astype(np.float32) * 0.5
    sf.write(tmp_path / "a.wav", y, sr)
    det = pd.DataFrame({"recording": ["a", "a"], "start_s": [0.1, 1.2], "end_s": [0.6, 1.8]}, index=[5, 9])
    out = detection_bands(det, {"a": str(tmp_path / "a.wav")}, 0, 4000)
    assert list(out.index) == [5, 9]
    assert out.low_hz.iloc[0] < 800 < out.high_hz.iloc[0] < 1200 and 2200 < out.low_hz.iloc[1] < 2500


def test_band_of_a_long_detection_is_read_in_blocks_and_equals_the_whole_segment(tmp_path, monkeypatch):
    import ethoflow.acoustic.frontend.features as feats

    sr = 8000
    rng = np.random.default_rng(0)
    t = np.arange(6 * sr) / sr
    y = (0.3 * np.sin(2 * np.pi * (600 + 100 * t) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    sf.write(tmp_path / "long.wav", y, sr, subtype="FLOAT")
    monkeypatch.setattr(feats, "BAND_BLOCK_FRAMES", 7)  # many blocks
    with sf.SoundFile(str(tmp_path / "long.wav")) as fh:
        got = feats.file_energy_band(fh, 1234, 40000, 0, 4000)
    want = energy_band(y[1234:40000], sr, 0, 4000)
    assert got == pytest.approx(want)


def _tiny_framewise(path: Path) -> Path:
    """A seeded, untrained framewise model file with the tiny front end."""
    import torch

    from ethoflow.acoustic.models.framewise import FramewiseNet
    from ethoflow.acoustic.params import FramewiseParams

    torch.manual_seed(0)
    f = FeatureParams(**TINY_FEATURES)
    m = FramewiseNet(f.n_freq_bins, 2, FramewiseParams(width=2, hidden=8, temporal_layers=3)).eval()
    m.scale_mean.fill_(-60.0)
    m.scale_std.fill_(15.0)
    ck = {"arch": "framewise", "state_dict": m.state_dict(), "model": m.config, "classes": ["call"]}
    torch.save({**ck, "features": f.model_dump()}, path)
    return path


def test_a_framewise_model_streams_to_the_same_cells_as_one_pass_over_the_tape(data, tmp_path):
    """Chunks of 0.4 s (25 frames) with the model's context: the framewise detector's hop_s cells equal
    predict_power_framewise on the whole spectrogram, for a resampled FLAC and a WAV."""
    from ethoflow.acoustic.frontend.spectrogram import recording_power
    from ethoflow.acoustic.models.framewise import predict_power_framewise

    d, _ = data
    det = load_detector(_tiny_framewise(tmp_path / "fw.pt"))
    assert det.kind == "framewise"
    for file in (d / "tapes" / "H01.flac", d / "tapes" / "T01_r1.wav"):
        r = TapeReader(file, det.sr)
        streamed = stream_windows(det, r, 0.4, 0.1, chunk_s=0.4)
        whole = predict_power_framewise(det.model, recording_power(file, det.features), det.features, r.duration_s, 0.1)
        assert streamed.start_s.tolist() == whole.start_s.tolist() and streamed.end_s.tolist() == whole.end_s.tolist()
        np.testing.assert_allclose(streamed.prob, whole.prob, rtol=0, atol=1e-6)


def _textgrid(intervals, end_s: float) -> str:
    """A Praat TextGrid (long text format) with one interval tier labelling ``intervals`` ``call``."""
    cells, t = [], 0.0
    for a, b in intervals:
        cells += [(t, a, ""), (a, b, "call")]
        t = b
    cells.append((t, end_s, ""))
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {end_s}"]
    lines += ["tiers? <exists>", "size = 1", "item []:", "    item [1]:", '        class = "IntervalTier"']
    lines += [
        '        name = "calls"',
        "        xmin = 0",
        f"        xmax = {end_s}",
        f"        intervals: size = {len(cells)}",
    ]
    for i, (a, b, lab) in enumerate(cells, 1):
        lines += [
            f"        intervals [{i}]:",
            f"            xmin = {a}",
            f"            xmax = {b}",
            f'            text = "{lab}"',
        ]
    return "\n".join(lines) + "\n"


def test_truth_in_any_crowsetta_format_is_scored_and_recordings_without_truth_are_named(data, shared_data, tmp_path):
    import crowsetta

    d, thr = data
    tapes, truth = tmp_path / "tapes", tmp_path / "lab" / "truth"  # truth outside the set's data_dir
    tapes.mkdir()
    for f in ("H01.flac", "T01_r1.wav"):
        (tapes / f).write_bytes((d / "tapes" / f).read_bytes())
    bird = shared_data / "audio" / "birdsongrec" / "Bird0"
    (tapes / "0.wav").write_bytes((bird / "Wave" / "0.wav").read_bytes())
    (tmp_path / "model.pt").write_bytes((d / "model.pt").read_bytes())
    table = d / "truth" / "H01.Table.1.selections.txt"
    iv = pd.read_csv(table, sep="\t")[["Begin Time (s)", "End Time (s)"]].to_numpy(float)
    for sub in ("raven", "audacity", "textgrid"):
        (truth / sub).mkdir(parents=True)
    (truth / "raven" / table.name).write_bytes(table.read_bytes())
    (truth / "audacity" / "H01.txt").write_text("".join(f"{a:.6f}\t{b:.6f}\tcall\n" for a, b in iv))
    (truth / "textgrid" / "H01.TextGrid").write_text(_textgrid([(round(a, 6), round(b, 6)) for a, b in iv], 12.0))
    (truth / "Annotation.xml").write_bytes((bird / "Annotation.xml").read_bytes())

    def run(sub: str, fmt: str) -> tuple[dict, dict]:
        cfg = _cfg(tmp_path, thr, truth=str(truth / sub), truth_format=fmt, truth_dir=str(truth))
        summary = detect_set(cfg, "demo", tmp_path / "out")  # later runs resume: only the scoring is redone
        return summary, read_json(tmp_path / "out" / "metrics.json")

    summary, raven = run("raven", "raven")
    assert (raven["recordings"], raven["recordings_scored"], raven["recordings_unscored"]) == (3, 1, 2)
    assert summary["recordings_unscored"] == ["0", "T01_r1"] and raven["n_gt"] == len(iv) > 0
    for sub, fmt in (("audacity", "aud-seq"), ("textgrid", "textgrid")):
        _, m = run(sub, fmt)
        assert {k: m[k] for k in ("tp", "fp", "fn", "recordings_scored")} == {
            k: raven[k] for k in ("tp", "fp", "fn", "recordings_scored")
        }, fmt
    summary, xml = run("Annotation.xml", "birdsong-recognition-dataset")
    notes = next(
        s
        for s in crowsetta.formats.by_name("birdsong-recognition-dataset")
        .from_file(bird / "Annotation.xml", wav_path=bird / "Wave")
        .sequences
        if Path(s.wav_file).name == "0.wav"
    )
    assert xml["recordings_scored"] == 1 and xml["n_gt"] == len(notes.syls) > 0
    assert summary["recordings_unscored"] == ["H01", "T01_r1"] and summary["truth_problems"] == []
    with pytest.raises(ValueError, match="outside truth_dir"):
        _cfg(tmp_path, thr, truth="/elsewhere/truth")  # neither in data_dir nor a truth_dir
