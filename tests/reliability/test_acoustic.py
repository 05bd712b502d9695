"""Acoustic: damaged recordings and annotation tables from the real Raven and BirdsongRecognition data."""

from __future__ import annotations

import errno
import json
import shutil
import sys

import pytest
import soundfile as sf

from ethoflow.acoustic.data.corpus import build_corpus
from ethoflow.acoustic.params import CorpusParams, VariantParams
from ethoflow.core.errors import InputError, OutputError
from tests.conftest import REPO
from tests.reliability.conftest import leftovers, run_stage_script, run_subprocess, tree

TABLE = "Recording_1_Segment_07.Table.1.selections.txt"


@pytest.fixture
def raven(tmp_path, shared_data):
    """The real Raven snippet (10 s) as ``rec/Recording_1_Segment_07.wav`` and its table cut to the rows
    inside the snippet (9 calls)."""
    d = tmp_path / "rec"
    d.mkdir()
    shutil.copy(shared_data / "audio/raven/Recording_1_Segment_07-snippet.wav", d / "Recording_1_Segment_07.wav")
    lines = (shared_data / "audio/raven" / TABLE).read_text().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if float(ln.split("\t")[4]) < 10]
    (d / TABLE).write_text("\n".join(keep) + "\n")
    return d


def _cfg(d, on_error="fail", label_column="Species", quality_column=None, **kw):
    src = dict(
        name="r",
        format="raven",
        annotations=f"{d}/*.selections.txt",
        audio_dir=str(d),
        label_column=label_column,
        quality_column=quality_column,
    )
    return CorpusParams(sources=[src], on_error=on_error, **kw)


def _params_file(tmp_path, d, **kw):
    cfg = _cfg(d, **kw).model_dump(exclude_none=True)
    p = tmp_path / "params.yaml"
    import yaml

    p.write_text(yaml.safe_dump({"acoustic": {"corpus": cfg}}))
    return p


def _fail_message(d):
    with pytest.raises(InputError) as ex:
        build_corpus(_cfg(d), root="/")
    return str(ex.value)


def test_clean_raven_snippet_reads(raven):
    index, report = build_corpus(_cfg(raven), root="/")
    assert report["n_problems"] == 0 and len(index["events"]) == 9


def test_truncated_wav_is_reported_as_truncated_by_the_stage_script(tmp_path, raven):
    wav = raven / "Recording_1_Segment_07.wav"
    wav.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    out = tmp_path / "corpus"
    res = run_subprocess(
        [
            sys.executable,
            str(REPO / "stages/acoustic_corpus.py"),
            "--params",
            str(_params_file(tmp_path, raven)),
            "--out",
            str(out),
        ],
        cwd=tmp_path,
    )
    assert res.returncode == 1, res.stderr
    assert "Recording_1_Segment_07.wav: truncated audio file: the header declares" in res.stderr
    assert "outside the recording" not in res.stderr, "the annotations are not blamed"
    assert "Traceback" not in res.stderr and not out.exists()


def test_zero_length_wav_is_named_empty(raven):
    (raven / "Recording_1_Segment_07.wav").write_bytes(b"")
    assert "Recording_1_Segment_07.wav: audio file is empty (0 bytes)" in _fail_message(raven)


def test_header_only_wav_is_named_truncated(raven):
    wav = raven / "Recording_1_Segment_07.wav"
    wav.write_bytes(wav.read_bytes()[:44])
    msg = _fail_message(raven)
    assert "Recording_1_Segment_07.wav: truncated audio file" in msg and "only 0 are present" in msg


def test_garbage_wav_is_named_unreadable(raven):
    wav = raven / "Recording_1_Segment_07.wav"
    wav.write_bytes(bytes(reversed(wav.read_bytes()[:5000])))  # the real bytes, reversed: no RIFF header
    assert "Recording_1_Segment_07.wav: not a readable audio file" in _fail_message(raven)


def test_truncated_flac_is_named(raven):
    wav = raven / "Recording_1_Segment_07.wav"
    y, sr = sf.read(wav)
    flac = raven / "Recording_1_Segment_07.flac"
    sf.write(flac, y, sr)
    wav.unlink()
    flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    cfg = _cfg(raven)
    cfg.sources[0].audio_ext = ".flac"
    with pytest.raises(InputError, match=r"Recording_1_Segment_07\.flac: truncated or corrupt audio file"):
        build_corpus(cfg, root="/")


def test_wrong_label_column_names_the_asked_column_and_the_columns_present(raven, capsys, tmp_path):
    params = _params_file(tmp_path, raven, label_column="Specis")
    code, err = run_stage_script("acoustic_corpus", ["--params", str(params), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert f"{TABLE}: label_column 'Specis' is not a column of this table" in err
    assert "Species" in err and "Begin Time (s)" in err and not (tmp_path / "o").exists()


def test_wrong_quality_column_is_named(raven):
    cfg = _cfg(raven, quality_column="Qualty")
    with pytest.raises(InputError, match=r"quality_column 'Qualty' is not a column"):
        build_corpus(cfg, root="/")


def test_empty_selection_table_is_named(raven):
    (raven / TABLE).write_bytes(b"")
    assert f"{TABLE}: selection table is empty (0 bytes)" in _fail_message(raven)


def test_truncated_wav_in_skip_mode_is_counted_and_the_other_recordings_kept(tmp_path, shared_data):
    d = tmp_path / "bird"
    (d / "Wave").mkdir(parents=True)
    shutil.copy(shared_data / "audio/birdsongrec/Bird0/Annotation.xml", d)
    for i in range(3):
        shutil.copy(shared_data / f"audio/birdsongrec/Bird0/Wave/{i}.wav", d / "Wave")
    w = d / "Wave/1.wav"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 3])
    src = dict(name="b", format="birdsong-recognition-dataset", annotations=f"{d}/Annotation.xml")
    index, report = build_corpus(CorpusParams(sources=[src], on_error="skip"), root="/")
    bad = [p for p in report["problems"] if p["file"].endswith("1.wav")]
    assert len(bad) == 1 and "truncated audio file" in bad[0]["problem"] and "annotations skipped" in bad[0]["problem"]
    assert {r["recording"] for r in index["recordings"]} == {"0", "2"}
    assert any("audio files that do not exist" in p["problem"] for p in report["problems"]), "Wave/3.wav.. absent"


def test_events_past_the_end_of_the_snippet_are_counted_not_silently_cut(tmp_path, shared_data):
    d = tmp_path / "rec"
    d.mkdir()
    shutil.copy(shared_data / "audio/raven/Recording_1_Segment_07-snippet.wav", d / "Recording_1_Segment_07.wav")
    shutil.copy(shared_data / "audio/raven" / TABLE, d / TABLE)  # the full 300 s table
    index, report = build_corpus(_cfg(d, on_error="skip"), root="/")
    outside = [p for p in report["problems"] if "outside the recording" in p["problem"]]
    assert len(outside) == report["n_problems"] > 0 and len(index["events"]) == 9


@pytest.mark.parametrize(
    ("policy", "n_events", "merged", "dropped"), [("keep", 10, 0, 0), ("merge", 9, 1, 0), ("drop", 9, 0, 1)]
)
def test_duplicated_annotation_is_reported_with_the_overlap_policy(raven, policy, n_events, merged, dropped):
    t = raven / TABLE
    lines = t.read_text().splitlines()
    dup = lines[3].split("\t")
    dup[0], dup[3] = "99", f"{float(dup[3]) + 0.2:.6f}"  # a nested copy of call 3 (EATO)
    t.write_text("\n".join([*lines, "\t".join(dup)]) + "\n")
    index, report = build_corpus(_cfg(raven, overlaps=policy, unmapped="keep"), root="/")
    ov = report["overlaps"]
    assert ov["policy"] == policy and ov["n_overlapping"] == 1 and ov["n_nested"] == 1
    assert ov["n_merged_away"] == merged and ov["n_dropped"] == dropped
    assert len(index["events"]) == n_events and "inside" in ov["examples"][0]


def test_overlapping_calls_of_one_class_in_the_real_table_are_counted(raven):
    _, report = build_corpus(_cfg(raven), root="/")  # unmapped: target -> every species is one class
    assert report["overlaps"]["n_overlapping"] == 7 and report["overlaps"]["policy"] == "keep"


def test_prediction_reads_a_truncated_recording_as_truncated(raven):
    from ethoflow.acoustic.frontend.spectrogram import load_audio

    wav = raven / "Recording_1_Segment_07.wav"
    wav.write_bytes(wav.read_bytes()[:-10000])
    with pytest.raises(InputError, match=r"Recording_1_Segment_07\.wav: truncated audio file"):
        load_audio(wav, 16000)


def test_truncated_animal_spot_model_names_the_file(tmp_path, shared_data):
    from ethoflow.acoustic.models.animal_spot import load_animal_spot

    p = tmp_path / "model.pk"
    p.write_bytes((shared_data / "audio/animal-spot/model.pk").read_bytes()[:100000])
    with pytest.raises(InputError, match=r"model\.pk"):
        load_animal_spot(p)


def test_variant_folder_is_all_or_nothing_on_a_full_disk(tmp_path, raven, monkeypatch):
    from ethoflow.acoustic.data import variants

    index, _ = build_corpus(_cfg(raven, on_error="skip"), root="/")
    index["recordings"] = [dict(index["recordings"][0], recording=f"R{i}", tape=f"T{i}") for i in range(3)] + index[
        "recordings"
    ]
    spec = VariantParams(split="random", fractions={"train": 0.6, "val": 0.2, "test": 0.2})
    df, vindex = variants.build_variant(index, spec, 0.4)
    out = tmp_path / "variants" / "v1"
    variants.write_variant(out, df, vindex, index)
    before = tree(out)
    calls = {"n": 0}
    real = variants.raven_selection_table

    def full(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(variants, "raven_selection_table", full)
    with pytest.raises(OutputError, match=r"cannot write: no space left on device"):
        variants.write_variant(out, df.assign(start_s=df.start_s + 0.01), vindex, index)
    assert tree(out) == before and leftovers(out.parent) == []
    monkeypatch.setattr(variants, "raven_selection_table", real)
    variants.write_variant(out, df, vindex, index)  # the rerun is not blocked
    assert tree(out) == before


def test_evaluation_folder_keeps_the_previous_layer_when_writing_fails(tmp_path):
    from ethoflow.acoustic.evaluation.evaluate import layer_set

    out = tmp_path / "detections" / "v1-s"
    with layer_set(out, out / "metrics.json") as (tmp, metrics):
        (tmp / "detections.parquet").write_text("old")
        metrics.write_text(json.dumps({"f1": 0.8}))
    with pytest.raises(OutputError, match="v1-s: cannot write: no space left on device"):
        with layer_set(out, out / "metrics.json") as (tmp, metrics):
            (tmp / "detections.parquet").write_text("new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert (out / "detections.parquet").read_text() == "old" and json.loads((out / "metrics.json").read_text())[
        "f1"
    ] == 0.8
    assert leftovers(out.parent) == []
