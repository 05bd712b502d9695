"""Output sets are written all-or-nothing (``core.io.output_set`` / ``atomic_dir``), and a write that the
system refuses (disk full, permission, read-only, file in the way) is one line naming the path and the cause."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ethoflow.core.errors import OutputError
from ethoflow.core.io import atomic_dir, output_error, output_set


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_output_set_renames_every_file_into_place_only_when_all_are_written(tmp_path):
    a, b = tmp_path / "t.parquet", tmp_path / "sub" / "t.csv"
    with output_set([a, b]) as (ta, tb):
        ta.write_text("A")
        assert not a.exists(), "target appears only after the block"
        tb.write_text("B")
        assert ta.suffix == ".parquet" and tb.suffix == ".csv", "temporaries keep the suffix"
    assert a.read_text() == "A" and b.read_text() == "B"
    assert _hidden(tmp_path) == [] and _hidden(tmp_path / "sub") == []


def test_a_failure_mid_set_leaves_previous_outputs_and_no_partial_file(tmp_path):
    a, b = tmp_path / "df03.parquet", tmp_path / "df03.csv"
    a.write_text("old A")
    b.write_text("old B")
    with pytest.raises(OutputError, match=r"df03\.csv: cannot write: no space left on device"):
        with output_set([a, b]) as (ta, tb):
            ta.write_text("new A")
            raise OSError(errno.ENOSPC, "No space left on device", str(tb))  # as a full disk raises it
    assert a.read_text() == "old A" and b.read_text() == "old B"
    assert _hidden(tmp_path) == []


def test_a_set_the_block_did_not_complete_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="did not write"):
        with output_set([tmp_path / "x.json", tmp_path / "y.json"]) as (tx, _ty):
            tx.write_text("{}")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_a_folder_as_a_whole_and_keeps_it_on_failure(tmp_path):
    out = tmp_path / "tables"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
        (tmp / "b.txt").write_text("1")
    with pytest.raises(KeyError):
        with atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text("2")
            raise KeyError("bug")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert (out / "a.txt").read_text() == "1" and _hidden(tmp_path) == []
    with atomic_dir(out) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["c.txt"], "no file of the previous set survives"


def test_atomic_dir_restores_the_previous_folder_after_a_kill_between_its_renames(tmp_path):
    out, old = tmp_path / "tables", tmp_path / ".tables.old"
    old.mkdir()
    (old / "a.txt").write_text("previous")  # state after os.replace(out, old) and a kill -9
    with pytest.raises(ValueError):
        with atomic_dir(out):
            raise ValueError("stop")
    assert (out / "a.txt").read_text() == "previous"


def test_kill_9_while_writing_a_set_leaves_the_previous_outputs(tmp_path):
    a, b = tmp_path / "latents.csv", tmp_path / "latents.parquet"
    a.write_text("old")
    b.write_text("old")
    script = textwrap.dedent(
        f"""
        import time
        from ethoflow.core.io import output_set
        with output_set([{str(a)!r}, {str(b)!r}]) as (ta, tb):
            ta.write_text("new")
            print("written", flush=True)
            time.sleep(60)
            tb.write_text("new")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert a.read_text() == "old" and b.read_text() == "old"
    with output_set([a, b]) as (ta, tb):  # the rerun is not blocked by what the killed run left
        ta.write_text("new")
        tb.write_text("new")
    assert a.read_text() == b.read_text() == "new" and _hidden(tmp_path) == []


@pytest.mark.parametrize(
    ("err", "cause"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only file system"),
        (errno.ENOTDIR, "a file is in the way where a folder is needed"),
    ],
)
def test_os_errors_become_one_line_naming_the_path_and_the_cause(err, cause):
    exc = output_error(OSError(err, os.strerror(err)), "data/processed/df03.parquet")
    assert isinstance(exc, OutputError)
    assert str(exc) == f"data/processed/df03.parquet: cannot write: {cause}"


def test_a_file_where_the_output_folder_should_be_is_named(tmp_path):
    (tmp_path / "tables").write_text("not a folder")
    with pytest.raises(OutputError, match=r"tables: cannot write: a file is in the way where a folder is needed"):
        with atomic_dir(tmp_path / "tables"):
            pass
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="blocker: cannot write: a file is in the way"):
        with output_set([blocker / "out.json"]):
            pass
