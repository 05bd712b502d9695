"""Dispatch without a cluster: in-process and submitit's debug executor."""

import pytest

from ethoflow.core import selftest
from ethoflow.dispatch import ComputeParams, DispatchError, jobs_dir, map_array, run


def test_local_runs_in_process(in_tmp):
    out = run(selftest.hello, 4, stage="demo_stage", compute=ComputeParams(executor="local"))
    assert out["square"] == 16 and out["job"] is None


def test_local_exceptions_propagate_unchanged(in_tmp):
    with pytest.raises(RuntimeError, match="boom"):
        run(selftest.fail, "boom", stage="demo_stage", compute=ComputeParams(executor="local"))


def test_debug_executor_goes_through_submitit(in_tmp):
    out = run(selftest.hello, 3, stage="demo_stage", compute=ComputeParams(executor="debug"))
    assert out["square"] == 9
    assert jobs_dir("demo_stage").is_relative_to(in_tmp / ".ethoflow" / "jobs")


def test_debug_executor_failure_is_dispatch_error(in_tmp, monkeypatch):
    # submitit's debug executor opens pdb on failure (its purpose); no debugger in tests.
    monkeypatch.setattr("pdb.post_mortem", lambda *a, **k: None)
    with pytest.raises(DispatchError, match="stage demo_stage: job .* failed"):
        run(selftest.fail, "boom", stage="demo_stage", compute=ComputeParams(executor="debug"))


def test_map_array_local_keeps_order(in_tmp):
    outs = map_array(selftest.hello, [1, 2, 3], stage="fan", compute=ComputeParams(executor="local"))
    assert [o["square"] for o in outs] == [1, 4, 9]


def _fake_sinfo(folder, fails: int) -> tuple[str, object]:
    """A ``sinfo`` on PATH that fails ``fails`` times (controller not answering), then lists an idle
    node; it counts its calls in ``folder/calls``."""
    import os

    calls = folder / "calls"
    calls.write_text("")
    script = folder / "sinfo"
    script.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{calls}"\n'
        f'if [ "$(wc -l < "{calls}")" -le {fails} ]; then\n'
        '  echo "slurm_load_partitions: Unable to contact slurm controller" >&2; exit 1\n'
        "fi\n"
        "echo idle\n"
    )
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}", calls


def test_slurm_available_asks_again_before_declaring_slurm_absent(tmp_path, monkeypatch):
    """A controller that misses two answers and gives the third counts as running (the CI transient)."""
    from ethoflow.dispatch import slurm_available

    path, calls = _fake_sinfo(tmp_path, fails=2)
    monkeypatch.setenv("PATH", path)
    assert slurm_available(attempts=3, wait_s=0.01)
    assert len(calls.read_text().split()) == 3


def test_slurm_available_gives_up_after_the_last_attempt(tmp_path, monkeypatch):
    from ethoflow.dispatch import slurm_available

    path, calls = _fake_sinfo(tmp_path, fails=5)
    monkeypatch.setenv("PATH", path)
    assert not slurm_available(attempts=3, wait_s=0.01)
    assert len(calls.read_text().split()) == 3


def test_test_session_remembers_that_slurm_answered(tmp_path, monkeypatch):
    """tests/conftest.py asks once per session: after a yes, a later failing sinfo is not asked."""
    import tests.conftest as conftest

    path, calls = _fake_sinfo(tmp_path, fails=1)
    monkeypatch.setenv("PATH", path)
    monkeypatch.setattr(conftest, "_slurm_seen", False)
    monkeypatch.setattr("ethoflow.dispatch.slurm.time.sleep", lambda s: None)
    assert conftest.slurm_answers() and conftest.slurm_answers()
    assert len(calls.read_text().split()) == 2
