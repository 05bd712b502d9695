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
