"""Watching Slurm jobs without ``sacct``: queue and final states (``squeue``/``scontrol``, the job's own
log), streaming job logs while a stage waits, clear failure messages, cancelling on Ctrl-C."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ethoflow.core.logging import get_logger
from ethoflow.dispatch.params import DispatchError

log = get_logger("ethoflow.dispatch")


def log_tail(path: Path | None, n_lines: int = 40) -> str:
    """The last ``n_lines`` lines of a job's log file, or ``"(no log file)"`` when there is none."""
    if path is None or not Path(path).exists():
        return "(no log file)"
    lines = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(lines[-n_lines:]) if lines else "(empty)"


class _LogStreamer:
    """Copies new lines of a job's stdout/stderr files to our stderr while we wait."""

    def __init__(self, paths: Sequence[Path], prefix: str):
        self.paths = list(paths)
        self.offsets = {p: 0 for p in self.paths}
        self.prefix = prefix

    def pump(self) -> None:
        for path in self.paths:
            try:
                with open(path, errors="replace") as fh:
                    fh.seek(self.offsets[path])
                    chunk = fh.read()
                    self.offsets[path] = fh.tell()
            except FileNotFoundError:
                continue
            for line in chunk.splitlines():
                if line.strip():
                    sys.stderr.write(f"{self.prefix}{line}\n")
        sys.stderr.flush()


def _scontrol_state(job_id: str) -> str:
    """The job's state from ``scontrol`` (``UNKNOWN`` once Slurm has forgotten the job)."""
    try:
        out = subprocess.run(
            ["scontrol", "show", "job", "-o", str(job_id)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "UNKNOWN"
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    state = fields.get("JobState", "UNKNOWN")
    reason = fields.get("Reason", "None")
    return state if reason in ("None", "") else f"{state} ({reason})"


#: Slurm job states after which a job never runs again (``scontrol``/``squeue`` names).
TERMINAL_STATES = (
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "CANCELLED",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "REVOKED",
    "SPECIAL_EXIT",
)

#: What the job's own log says about how it ended, first match wins: (pattern, state). Slurm's
#: ``slurmstepd`` lines and submitit's time-limit handler (which stops the job at the signal it gets
#: ``signal_delay_s`` before the limit, so Slurm itself records FAILED, not TIMEOUT).
_LOG_STATES = (
    (re.compile(r"DUE TO TIME LIMIT|timed-out and not checkpointable|Job has timed out"), "TIMEOUT"),
    # slurmstepd's words only: "CUDA out of memory" is the job's own error, not Slurm's memory limit
    (re.compile(r"oom[-_]kill event|Exceeded job memory limit|\bOUT_OF_MEMORY\b"), "OUT_OF_MEMORY"),
    (re.compile(r"DUE TO NODE FAILURE"), "NODE_FAIL"),
    (re.compile(r"DUE TO PREEMPTION"), "PREEMPTED"),
    (re.compile(r"\bCANCELLED AT\b"), "CANCELLED"),
)


def base_state(state: str) -> str:
    """``"FAILED (NonZeroExitCode)"`` -> ``"FAILED"``; ``"CANCELLED by 1000"`` -> ``"CANCELLED"``."""
    return state.split()[0] if state.strip() else "UNKNOWN"


def state_from_log(text: str) -> str | None:
    """The final state the job's log text names (time limit, out of memory, cancellation...), or None."""
    for pattern, state in _LOG_STATES:
        if pattern.search(text):
            return state
    return None


def final_state(job_id: str, log_text: str, wait_s: float = 10.0, poll_s: float = 0.5) -> str:
    """How the job ended: its log's word where it has one (the truer cause), else Slurm's terminal state.

    Without accounting (``sacct``) Slurm may still say RUNNING or COMPLETING for a moment after the job's
    process is gone, so ``scontrol`` is polled for up to ``wait_s`` until a terminal state; a job Slurm
    still lists as running after that is reported as such, never as the final state.
    """
    from_log = state_from_log(log_text)
    if from_log:
        return from_log
    deadline = time.time() + wait_s
    state = _scontrol_state(job_id)
    while base_state(state) not in TERMINAL_STATES and base_state(state) != "UNKNOWN" and time.time() < deadline:
        time.sleep(poll_s)
        state = _scontrol_state(job_id)
    base = base_state(state)
    if base in TERMINAL_STATES:
        return state
    if base == "UNKNOWN":
        return "UNKNOWN (Slurm no longer lists the job)"
    return f"unknown (Slurm still said {state} {wait_s:g} s after the job's end)"


def failure_message(stage: str, job_id: str, state: str, detail: str, stderr_path: Any, tail: str) -> str:
    """The DispatchError text of a failed job: stage, job id, final state, what happened, the knob to
    turn where there is one, and the tail of the job's stderr."""
    key = stage.split("@")[0]
    hint = {
        "TIMEOUT": f"it ran past its time limit: raise compute.stages.{key}.timeout_min (or "
        "compute.default.timeout_min) in params.yaml",
        "OUT_OF_MEMORY": f"it ran out of memory: raise compute.stages.{key}.mem_gb (or compute.default.mem_gb) "
        "in params.yaml",
        "CANCELLED": "it was cancelled (scancel, or an administrator)",
        "NODE_FAIL": "its node failed; rerun the stage",
        "PREEMPTED": "it was preempted by a job of higher priority; rerun the stage",
    }.get(base_state(state))
    head = f"stage {stage}: job {job_id} failed (state {state}): {detail}"
    if hint:
        head += f"; {hint}"
    return f"{head}\nstderr ({stderr_path}), last lines:\n{tail}"


#: Pending reasons under which a job can never start: resources beyond what the partition offers.
HOPELESS_REASONS = (
    "PartitionConfig",
    "BadConstraints",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "InvalidQOS",
    "InvalidAccount",
    "QOSMaxWallDurationPerJobLimit",
)


def _queue_state(job_id: str) -> tuple[str, str] | None:
    """``(state, reason)`` from ``squeue`` while Slurm lists the job, else ``None``."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", str(job_id), "-o", "%T|%r"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ("UNKNOWN", "squeue did not answer")  # cannot tell: keep waiting
    line = out.stdout.strip().splitlines()
    if out.returncode != 0 or not line:
        return None
    state, _, reason = line[0].partition("|")
    return state, reason


def _finished(job: Any, stage: str, seen: dict[str, tuple[str, str]]) -> bool:
    """A job is finished when its result pickle exists or Slurm no longer lists it.

    submitit's own ``job.done()`` relies on ``sacct``, which clusters without accounting (and the
    local test cluster) do not answer; a job killed by Slurm (time or memory limit) then never
    writes its result pickle, and ``job.result()`` would wait forever. State changes are logged;
    a job pending for a reason under which it can never start is cancelled with a clear error.
    """
    if job.paths.result_pickle.exists():
        return True
    state = _queue_state(job.job_id)
    if state is None:
        return True
    if seen.get(job.job_id) != state:
        seen[job.job_id] = state
        log.info(
            "stage %s: job %s %s%s",
            stage,
            job.job_id,
            state[0].lower(),
            f" ({state[1]})" if state[1] and state[1] != "None" else "",
        )
    if state[0] == "PENDING" and state[1] in HOPELESS_REASONS:
        job.cancel(check=False)
        raise DispatchError(
            f"stage {stage}: job {job.job_id} can never start ({state[1]}): it asks for more than the "
            f"partition offers (cpus, mem_gb, gpus, timeout_min or nodes). Lower them under "
            f"compute.stages.{stage.split('@')[0]} or compute.default in params.yaml, or choose another partition."
        )
    return False


def wait_for_jobs(jobs: list[Any], stage: str, poll_s: float, grace_s: float = 5.0) -> None:
    """Block until every job is finished, streaming logs; cancel all on Ctrl-C."""
    streamers = [_LogStreamer([j.paths.stdout, j.paths.stderr], prefix=f"[{stage} job {j.job_id}] ") for j in jobs]
    seen: dict[str, tuple[str, str]] = {}
    try:
        pending = list(jobs)
        while pending:
            for s in streamers:
                s.pump()
            pending = [j for j in pending if not _finished(j, stage, seen)]
            if pending:
                time.sleep(poll_s)
        # A job that left the queue may still be flushing its result pickle to a shared filesystem.
        deadline = time.time() + grace_s
        while time.time() < deadline and not all(j.paths.result_pickle.exists() for j in jobs):
            time.sleep(0.2)
        for s in streamers:
            s.pump()
    except KeyboardInterrupt:
        for j in jobs:
            log.warning("cancelling job %s (%s)", j.job_id, stage)
            j.cancel(check=False)
        raise


def slurm_available(timeout_s: float = 5.0, attempts: int = 3, wait_s: float = 2.0) -> bool:
    """True when ``sinfo`` answers and lists at least one usable node (idle, mixed or allocated).

    ``sinfo`` is asked up to ``attempts`` times, ``wait_s`` seconds apart (each call limited to
    ``timeout_s`` seconds), before Slurm is declared absent: a busy controller sometimes misses one
    answer and gives the next. False at once when no ``sinfo`` is on ``PATH``.
    """
    if shutil.which("sinfo") is None:
        return False
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(wait_s)
        try:
            out = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (subprocess.TimeoutExpired, OSError):
            continue
        states = out.stdout.split()
        if out.returncode == 0 and any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
            return True
    return False
