"""Dispatch on a real Slurm cluster (``scripts/local-slurm.sh start``; .ci/run starts it).

Skipped with the reason when Slurm does not answer, except under ``ETHOFLOW_REQUIRE_SLURM=1``
(set by .ci/run), where a missing cluster is a failure.
"""

import subprocess
import sys
import textwrap

import pytest

from ethoflow.core import selftest
from ethoflow.dispatch import ComputeParams, DispatchError, StageResources, map_array, run

pytestmark = pytest.mark.slurm


def slurm(**res) -> ComputeParams:
    base = {"cpus": 1, "mem_gb": 1, "timeout_min": 5}
    return ComputeParams(executor="slurm", default=StageResources(**{**base, **res}))


def test_job_succeeds_and_returns_result(in_tmp):
    out = run(selftest.hello, 7, stage="slurm_ok", compute=slurm(), poll_s=0.5)
    assert out["square"] == 49
    assert out["job"] is not None  # it really ran as a Slurm job
    logs = list((in_tmp / ".ethoflow" / "jobs" / "slurm_ok").rglob("*_log.out"))
    assert logs, "submitit log folder is inside the project"


def test_job_that_raises_reports_job_id_and_error(in_tmp):
    with pytest.raises(DispatchError) as err:
        run(selftest.fail, "the job's own error", stage="slurm_fail", compute=slurm(), poll_s=0.5)
    msg = str(err.value)
    assert "stage slurm_fail: job" in msg and "failed" in msg
    assert "the job's own error" in msg
    first = msg.splitlines()[0]
    assert "(state FAILED" in first and "RUNNING" not in first


def test_job_over_time_limit_fails(in_tmp):
    with pytest.raises(DispatchError) as err:
        run(selftest.sleep, 600, stage="slurm_timeout", compute=slurm(timeout_min=1), poll_s=1.0)
    msg = str(err.value)
    assert "stage slurm_timeout: job" in msg
    first = msg.splitlines()[0]
    assert "(state TIMEOUT)" in first and "RUNNING" not in first  # the final state, not a stale one
    assert "compute.stages.slurm_timeout.timeout_min" in first  # the knob to turn


def test_cancelled_job_reports_cancelled(in_tmp):
    """A job cancelled with scancel is reported as CANCELLED, not RUNNING."""
    import subprocess as sp

    with pytest.raises(DispatchError) as err:
        # check=True: the job's python survives the SIGTERM (submitit bypasses it) and raises on the
        # killed command instead of returning; a job killed outright ends without a result
        run(
            sp.run,
            ["bash", "-c", "scancel $SLURM_JOB_ID; sleep 60"],
            stage="slurm_cancel@a",
            compute=slurm(),
            poll_s=0.5,
            check=True,
        )
    first = str(err.value).splitlines()[0]
    assert first.startswith("stage slurm_cancel@a: job") and "(state CANCELLED" in first, first
    assert "RUNNING" not in first and "cancelled" in first


def test_job_array(in_tmp):
    outs = map_array(selftest.hello, [1, 2, 3, 4], stage="slurm_array", compute=slurm(array_parallelism=2), poll_s=0.5)
    assert [o["square"] for o in outs] == [1, 4, 9, 16]
    job_ids = {o["job"] for o in outs}
    assert len(job_ids) == 4


def test_stage_script_exits_nonzero_with_job_error(in_tmp):
    """A stage whose Slurm job raises exits 1 and prints the job id and the job's error."""
    (in_tmp / "params.yaml").write_text(
        "compute:\n  executor: slurm\n  default: {cpus: 1, mem_gb: 1, timeout_min: 5}\n"
    )
    script = in_tmp / "stage.py"
    script.write_text(
        textwrap.dedent(
            """
        from ethoflow.core import selftest
        from ethoflow.core.stage import run_stage
        from ethoflow.dispatch import run

        def main():
            run(selftest.fail, "bad input in tape 3", stage="failing_stage", poll_s=0.5)

        if __name__ == "__main__":
            run_stage(main)
        """
        )
    )
    res = subprocess.run([sys.executable, str(script)], cwd=in_tmp, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr
    assert "bad input in tape 3" in res.stderr
    assert "failing_stage: job" in res.stderr


def test_doctor_slurm_check(in_tmp, capsys):
    """In a project (its params.yaml valid), ``doctor --slurm`` runs a real job and exits 0."""
    import shutil

    from ethoflow.cli import main
    from tests.conftest import REPO

    shutil.copy(REPO / "params.yaml", "params.yaml")
    assert main(["doctor", "--slurm"]) == 0
    out = capsys.readouterr().out
    assert "slurm job" in out and "returned 36" in out


def test_job_that_can_never_start_fails_fast(in_tmp):
    """Asking for more CPUs than any node has: cancelled with a message naming the params to change."""
    with pytest.raises(DispatchError) as err:
        run(selftest.hello, 1, stage="too_big", compute=slurm(cpus=512), poll_s=0.5)
    msg = str(err.value)
    assert "can never start" in msg and "compute.stages.too_big" in msg


def test_rejected_submission_names_the_params(in_tmp):
    """The local cluster has no GPUs: sbatch rejects the job, the error says where to look."""
    with pytest.raises(DispatchError) as err:
        run(selftest.hello, 1, stage="gpu_stage", compute=slurm(gpus=1), poll_s=0.5)
    assert "Slurm rejected the job" in str(err.value) and "compute.stages.gpu_stage" in str(err.value)


def test_corrupt_checkpoint_under_slurm_names_the_file(in_tmp):
    """issue #14 item 3: the job's InputError about a truncated model file reaches the user as one line."""
    from ethoflow.core.io import load_torch

    bad = in_tmp / "model.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DispatchError) as err:
        run(load_torch, str(bad), "acoustic model file", stage="slurm_ckpt", compute=slurm(), poll_s=0.5)
    first = str(err.value).splitlines()[0]
    assert "(state FAILED" in first and str(bad) in first and "truncated or corrupt" in first
