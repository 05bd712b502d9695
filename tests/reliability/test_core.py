"""Core faults: params files, outputs the system refuses, library errors, corrupt model files."""

from __future__ import annotations

import errno

import pandas as pd
import pytest

from ethoflow.core.errors import InputError
from ethoflow.core.stage import run_stage
from tests.conftest import REPO
from tests.reliability.conftest import leftovers, one_error_line, run_stage_script, run_subprocess


def _run(main, capsys, argv=("stage.py",), monkeypatch=None):
    capsys.readouterr()
    with pytest.raises(SystemExit) as ex:
        run_stage(main)
    return int(ex.value.code or 0), capsys.readouterr().err


def test_missing_params_file_names_it(tmp_path, capsys):
    args = ["--params", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]
    code, err = run_stage_script("acoustic_corpus", args, capsys)
    assert code == 1
    assert "nope.yaml" in one_error_line(err)


def test_truncated_params_file_names_it_and_the_problem(tmp_path, capsys):
    text = (REPO / "params.yaml").read_text()
    cut = tmp_path / "params.yaml"
    cut.write_text(text[: text.index("  corpus:") + 40] + '\n    sources: [{"name": "x"\n')  # cut mid-value
    code, err = run_stage_script("acoustic_corpus", ["--params", str(cut), "--out", str(tmp_path / "o")], capsys)
    line = one_error_line(err)
    assert code == 1 and str(cut) in line and "YAML" in line
    assert not (tmp_path / "o").exists()


def test_output_folder_where_a_file_is_in_the_way_is_one_line(tmp_path, capsys, shared_data):
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    params = tmp_path / "params.yaml"
    wav_dir = shared_data / "audio/raven"
    params.write_text(
        "acoustic:\n  corpus:\n    sources:\n      - name: r\n        format: raven\n"
        f"        annotations: {wav_dir}/*.selections.txt\n        audio_dir: {wav_dir}\n"
        "        label_column: Species\n"
        "        audio: " + str(wav_dir / "Recording_1_Segment_07-snippet.wav") + "\n"
    )
    code, err = run_stage_script("acoustic_corpus", ["--params", str(params), "--out", str(blocker / "c")], capsys)
    line = one_error_line(err)
    assert code == 1 and str(blocker) in line and "a file is in the way where a folder is needed" in line
    assert blocker.read_text() == "a file, not a folder"


def test_output_file_where_a_folder_is_in_the_way_is_one_line(tmp_path, capsys, shared_data):
    wav_dir = shared_data / "audio/raven"
    params = tmp_path / "params.yaml"
    params.write_text(
        "acoustic:\n  corpus:\n    sources:\n      - name: r\n        format: raven\n"
        f"        annotations: {wav_dir}/*.selections.txt\n        label_column: Species\n"
        "        audio: " + str(wav_dir / "Recording_1_Segment_07-snippet.wav") + "\n"
    )
    (tmp_path / "c" / "corpus_index.json").mkdir(parents=True)  # a folder where the index file goes
    code, err = run_stage_script("acoustic_corpus", ["--params", str(params), "--out", str(tmp_path / "c")], capsys)
    line = one_error_line(err)
    assert code == 1 and "corpus_index.json: cannot write: a folder is in the way where a file is needed" in line
    assert leftovers(tmp_path / "c") == []


def test_disk_full_while_writing_is_one_line_naming_the_file_and_leaves_the_previous_file(
    tmp_path, capsys, monkeypatch
):
    from ethoflow.core import io

    target = tmp_path / "summary.json"
    io.write_json(target, {"old": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io.os, "fsync", full)
    code, err = _run(lambda: io.write_json(target, {"new": 2}), capsys)
    line = one_error_line(err)
    assert code == 1 and f"{target}: cannot write: no space left on device" in line
    assert target.read_text() == '{\n  "old": 1\n}\n' and leftovers(tmp_path) == []


def test_unexpected_oserror_is_one_line_naming_the_path(tmp_path, capsys):
    def main():
        open(tmp_path / "missing" / "input.csv").read()

    code, err = _run(main, capsys)
    line = one_error_line(err)
    assert code == 1 and f"{tmp_path / 'missing' / 'input.csv'}: no such file or folder" in line
    assert "ETHOFLOW_DEBUG=1" in line


def test_pyarrow_error_is_one_line_and_the_traceback_only_with_debug(tmp_path, capsys, monkeypatch, shared_data):
    # a Parquet file made from real data, then truncated
    df = pd.read_csv(shared_data / "activity/dam/M014.txt", sep="\t", header=None, nrows=200)
    df.columns = [f"c{i}" for i in df.columns]
    p = tmp_path / "m014.parquet"
    df.to_parquet(p)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    code, err = _run(lambda: pd.read_parquet(p), capsys)
    line = one_error_line(err)
    assert code == 1 and ("pyarrow error" in line or str(p) in line)
    monkeypatch.setenv("ETHOFLOW_DEBUG", "1")
    code, err = _run(lambda: pd.read_parquet(p), capsys)
    assert code == 1 and "Traceback" in err


def test_verbose_flag_shows_the_traceback_of_an_input_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["stage.py", "-v"])

    def main():
        raise InputError(f"{tmp_path}/x.wav: truncated audio file")

    code, err = _run(main, capsys)
    assert code == 1 and "Traceback" in err and "x.wav: truncated audio file" in err


def test_truncated_model_file_names_the_file(tmp_path, shared_data):
    from ethoflow.core.io import load_torch

    src = (shared_data / "audio/animal-spot/model.pk").read_bytes()
    p = tmp_path / "model.pk"
    p.write_bytes(src[: len(src) // 3])
    with pytest.raises(InputError, match=r"model\.pk: checkpoint is truncated or corrupt"):
        load_torch(p, weights_only=False)


def test_cli_check_params_on_a_broken_params_file_exits_2_naming_the_key(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("on_error: skip", "on_eror: skip", 1)
    (tmp_path / "params.yaml").write_text(text)
    res = run_subprocess(["ethoflow", "check-params"], cwd=tmp_path)
    assert res.returncode == 2
    assert "params.yaml" in res.stderr and "on_eror" in res.stderr and "Traceback" not in res.stderr
