"""Streaming shared by acoustic_predict and acoustic_detect: chunked == whole tape, bounded reads, progress
in seconds of audio; acoustic_detect's content hashes cached by size + mtime (done recordings not reread)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ethoflow.acoustic.inference.resume as resume_mod
from ethoflow.acoustic.inference.detect import detect_set
from ethoflow.acoustic.inference.predict import StreamOptions, predict_power, predict_recordings
from ethoflow.acoustic.inference.streaming import TapeReader, load_detector, stream_windows
from ethoflow.acoustic.params import PredictSetting

from .test_detect import _cfg, _tiny_framewise, _tiny_model, data  # noqa: F401  (data: the fixture)

OLD_NS = 1_600_000_000 * 10**9  # an mtime long past (2020), so the hash cache may keep it


def _recordings(d: Path) -> list[dict]:
    out = []
    for file in (d / "tapes" / "H01.flac", d / "tapes" / "T01_r1.wav"):
        r = TapeReader(file, 16000)
        out.append({"recording": file.stem, "tape": file.stem[:3], "file": str(file), "duration_s": r.duration_s})
        r.close()
    return out


@pytest.mark.parametrize("arch", ["window", "framewise"])
def test_predict_streams_chunks_equal_to_the_whole_tape_for_both_architectures(data, tmp_path, monkeypatch, arch):  # noqa: F811
    """acoustic_predict with chunks of 0.4 s (a resampled 22.05 kHz FLAC and a 16 kHz WAV) gives the
    rows of the whole-tape computation, never loads a whole tape, and its progress adds up to the audio."""
    import ethoflow.acoustic.frontend.spectrogram as spec
    from ethoflow.acoustic.frontend.spectrogram import recording_power
    from ethoflow.acoustic.models.framewise import predict_power_framewise

    d, _ = data
    model = _tiny_model(tmp_path / "m.pt") if arch == "window" else _tiny_framewise(tmp_path / "m.pt")
    det = load_detector(model)
    recs = _recordings(d)
    whole = []
    for r in recs:
        P = recording_power(r["file"], det.features)
        if arch == "window":
            w = predict_power(det.model, P, det.features, r["duration_s"], 0.4, 0.1, 4)
        else:
            w = predict_power_framewise(det.model, P, det.features, r["duration_s"], 0.1)
        whole.append(w.assign(recording=r["recording"]))
    whole = pd.concat(whole, ignore_index=True)

    def no_whole_tape(*a, **k):
        raise AssertionError("predict loaded a whole tape")

    monkeypatch.setattr(spec, "load_audio", no_whole_tape)
    monkeypatch.setattr(spec, "recording_power", no_whole_tape)
    summary = predict_recordings(
        str(model),
        recs,
        PredictSetting(seq_len_s=0.4, hop_s=0.1),
        str(tmp_path / "p.parquet"),
        4,
        stream=StreamOptions(0.4),
    )
    got = pd.read_parquet(tmp_path / "p.parquet")
    assert list(got.columns) == ["tape", "recording", "start_s", "end_s", "prob", "logit", "label"]
    assert summary["n_windows"] == len(got) == len(whole) > 100
    assert got.recording.tolist() == whole.recording.tolist()
    assert got.start_s.tolist() == whole.start_s.tolist() and got.end_s.tolist() == whole.end_s.tolist()
    np.testing.assert_allclose(got.logit, whole.logit, rtol=0, atol=1e-6)

    for r in recs:  # progress: the chunks' seconds add up to the recording's duration
        seconds = []
        reader = TapeReader(r["file"], det.sr)
        stream_windows(det, reader, 0.4, 0.1, 4, 0.4, on_chunk=seconds.append)
        assert len(seconds) > 5
        assert sum(seconds) == pytest.approx(r["duration_s"], abs=1e-3)


def test_detect_does_not_rehash_unchanged_recordings_and_records_stay_keyed_by_content(data, tmp_path, monkeypatch):  # noqa: F811
    """Second run: no recording is read for its hash (size + mtime cache in .ethoflow/, outside the out);
    a touched file is rehashed but, same content, not recomputed; the records equal a run without cache."""
    d, thr = data
    monkeypatch.setenv("ETHOFLOW_ROOT", str(tmp_path / "project"))  # the cache lives in <root>/.ethoflow
    tapes = tmp_path / "tapes"
    tapes.mkdir()
    for name in ("H01.flac", "T01_r1.wav"):
        shutil.copy(d / "tapes" / name, tapes / name)
        os.utime(tapes / name, ns=(OLD_NS, OLD_NS))
    model = shutil.copy(d / "model.pt", tmp_path / "model.pt")
    os.utime(model, ns=(OLD_NS, OLD_NS))
    cfg = _cfg(d, thr, data_dir=str(tmp_path), recordings=str(tapes), model=str(model))
    hashed, real = [], resume_mod.sha256_file
    monkeypatch.setattr(resume_mod, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))

    detect_set(cfg, "demo", tmp_path / "out")
    assert sorted(hashed) == ["H01.flac", "T01_r1.wav", "model.pt"]
    assert len(list((tmp_path / "project" / ".ethoflow" / "hash-cache").glob("*.json"))) == 3
    records = {p.name: p.read_bytes() for p in (tmp_path / "out" / "state").glob("*.json")}
    windows_mtime = (tmp_path / "out" / "state" / "H01.windows.parquet").stat().st_mtime_ns

    hashed.clear()
    detect_set(cfg, "demo", tmp_path / "out")
    assert hashed == []  # nothing reread

    os.utime(tapes / "H01.flac", ns=(OLD_NS + 10**9, OLD_NS + 10**9))  # touched, same bytes
    detect_set(cfg, "demo", tmp_path / "out")
    assert hashed == ["H01.flac"]
    assert (tmp_path / "out" / "state" / "H01.windows.parquet").stat().st_mtime_ns == windows_mtime  # not redone

    shutil.rmtree(tmp_path / "project" / ".ethoflow")  # another machine: no cache, same records
    detect_set(cfg, "demo", tmp_path / "out2")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out2" / "state").glob("*.json")} == records
    assert not list((tmp_path / "out2").rglob("hash-cache"))


def test_a_file_changed_just_now_is_not_cached(tmp_path, monkeypatch):
    """mtime granularity: a file written less than 2 s ago is hashed every time until it is older."""
    monkeypatch.setenv("ETHOFLOW_ROOT", str(tmp_path))
    f = tmp_path / "a.wav"
    f.write_bytes(b"x" * 100)
    assert resume_mod.content_sha256(f) == resume_mod.sha256_file(f)
    assert not list((tmp_path / ".ethoflow" / "hash-cache").glob("*.json"))
    os.utime(f, ns=(time.time_ns() - 5 * 10**9,) * 2)
    resume_mod.content_sha256(f)
    assert len(list((tmp_path / ".ethoflow" / "hash-cache").glob("*.json"))) == 1
