"""How a failed Slurm job is reported (no cluster needed): final state from the log, the knob to turn."""

import pytest

from ethoflow.dispatch import failure_message, state_from_log


@pytest.mark.parametrize(
    "text,state",
    [
        ("slurmstepd: error: *** JOB 12 ON n1 CANCELLED AT 2026-12-01T02:00:00 DUE TO TIME LIMIT ***", "TIMEOUT"),
        (
            "submitit.core.utils.UncompletedJobError: Job not requeued because: timed-out and not checkpointable.",
            "TIMEOUT",
        ),
        (
            "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=12.0. Some of your processes may have been "
            "killed by the cgroup out-of-memory handler.",
            "OUT_OF_MEMORY",
        ),
        ("slurmstepd: error: *** JOB 12 ON n1 CANCELLED AT 2026-12-01T02:00:00 ***", "CANCELLED"),
        ("slurmstepd: error: *** JOB 12 ON n1 CANCELLED AT 2026-12-01T02:00:00 DUE TO NODE FAILURE ***", "NODE_FAIL"),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB", None),  # the job's own error
        ("ValueError: bad input", None),
    ],
)
def test_state_from_log(text, state):
    assert state_from_log(text) == state


def test_timeout_message_names_state_and_knob():
    msg = failure_message("acoustic_train@v1", "42", "TIMEOUT", "it ended without a result", "/j/42.err", "tail")
    first = msg.splitlines()[0]
    assert first.startswith("stage acoustic_train@v1: job 42 failed (state TIMEOUT)")
    assert "compute.stages.acoustic_train.timeout_min" in first and "@v1.timeout" not in first
    assert "RUNNING" not in msg and "/j/42.err" in msg and msg.endswith("tail")


@pytest.mark.parametrize(
    "state,words",
    [
        ("OUT_OF_MEMORY", "compute.stages.vae_train.mem_gb"),
        ("CANCELLED by 1000", "cancelled"),
        ("NODE_FAIL", "node failed"),
        ("FAILED (NonZeroExitCode)", None),
    ],
)
def test_other_states(state, words):
    msg = failure_message("vae_train", "7", state, "ValueError: x", "/j/7.err", "t")
    assert f"(state {state}): ValueError: x" in msg
    if words:
        assert words in msg
    else:
        assert "compute.stages" not in msg
