"""core.inputs checks and core.stage.error_line: the true diagnosis of a damaged file, one line."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import soundfile as sf

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import audio_info, check_columns, check_file, warn_checkpoint_overrides
from ethoflow.core.stage import debug_enabled, error_line
from tests.fixtures.logs import logged_warnings


def _wav(path, seconds=1.0, sr=8000, subtype="PCM_16"):
    sf.write(path, np.zeros(int(seconds * sr), np.float32), sr, subtype=subtype)
    return path


def test_audio_info_reads_a_whole_wav(tmp_path):
    info = audio_info(_wav(tmp_path / "a.wav", 2.0))
    assert (info.sr, info.frames, info.channels, info.duration_s) == (8000, 16000, 1, 2.0)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_a_cut_wav_is_truncated_not_short(tmp_path, subtype):
    p = _wav(tmp_path / "a.wav", 2.0, subtype=subtype)
    p.write_bytes(p.read_bytes()[:-4000])
    with pytest.raises(InputError, match=r"a\.wav: truncated audio file: the header declares .* \(2\.000 s\)"):
        audio_info(p)


def test_missing_and_folder_are_named(tmp_path):
    with pytest.raises(InputError, match="audio file not found"):
        audio_info(tmp_path / "none.wav")
    with pytest.raises(InputError, match="is a folder, not a file"):
        check_file(tmp_path, "table")


def test_check_columns_names_the_param_the_column_and_the_columns_present(tmp_path):
    check_columns("t.txt", {"label_column": "Species", "quality_column": None}, ["Species"])
    with pytest.raises(
        InputError, match=r"t\.txt: label_column 'Specis' is not a column of this table \(columns: A, B\)"
    ):
        check_columns("t.txt", {"label_column": "Specis"}, ["A", "B"])


def test_checkpoint_overrides_are_warned_with_both_values():
    with logged_warnings("ethoflow.checkpoint") as seen:
        lines = warn_checkpoint_overrides(
            "m.pt", {"n_fft": 512, "sr": 16000, "only": 1}, {"n_fft": 2048, "sr": 16000}, "acoustic.features"
        )
    assert lines == [
        "m.pt: the model file's n_fft=512 overrides params acoustic.features.n_fft=2048 (the file's value is used)"
    ]
    assert seen == lines, "each line is logged as a warning"


def test_error_line_names_path_and_cause():
    assert (
        error_line(OSError(errno.ENOSPC, "No space left on device", "/d/x.csv")) == "/d/x.csv: no space left on device"
    )
    assert error_line(FileNotFoundError(errno.ENOENT, "No such file", "in.csv")) == "in.csv: no such file or folder"
    assert error_line(OSError(errno.EIO, "Input/output error")) == "I/O error: Input/output error"
    assert error_line(ValueError("ours")) is None


def test_debug_from_flag_or_environment(monkeypatch):
    monkeypatch.delenv("ETHOFLOW_DEBUG", raising=False)
    assert not debug_enabled(["--params", "p.yaml"])
    assert debug_enabled(["-v"]) and debug_enabled(["--verbose"])
    monkeypatch.setenv("ETHOFLOW_DEBUG", "1")
    assert debug_enabled([])
