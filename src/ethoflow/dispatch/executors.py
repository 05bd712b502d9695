"""submitit executors per stage, job submission and collecting a job's result (failures -> DispatchError)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ethoflow.core.logging import get_logger
from ethoflow.core.numerics import slurm_setup
from ethoflow.core.paths import state_dir
from ethoflow.dispatch.params import EXECUTORS, ComputeParams, DispatchError
from ethoflow.dispatch.slurm import TERMINAL_STATES, base_state, failure_message, final_state, log_tail

log = get_logger("ethoflow.dispatch")


def jobs_dir(stage: str) -> Path:
    """``<project>/.ethoflow/jobs/<stage>/`` (created)."""
    return state_dir("jobs", stage.replace("@", "_").replace("/", "_"))


def make_executor(stage: str, compute: ComputeParams, executor: str | None = None) -> Any:
    """A submitit executor for ``stage`` with its resources (``None`` for the ``local`` executor)."""
    # local: submitit is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import submitit

    kind = executor or compute.effective_executor()
    res = compute.resources(stage)
    folder = jobs_dir(stage) / "%j"
    if kind == "local":
        return None
    if kind == "debug":
        return submitit.DebugExecutor(folder=folder)
    if kind == "slurm":
        ex = submitit.SlurmExecutor(folder=folder, python=sys.executable)
        timeout_min = int(res.timeout_min or 60)
        params: dict[str, Any] = {
            # submitit warns the job (SIGUSR2) this many seconds before the limit; never at the start.
            "signal_delay_s": int(min(90, timeout_min * 60 // 4)),
            "job_name": f"ethoflow-{stage}",
            "time": timeout_min,
            "nodes": res.nodes,
            "ntasks_per_node": res.tasks_per_node,
            "cpus_per_task": res.cpus,
            "mem": f"{int(round((res.mem_gb or 4) * 1024))}MB",
            "array_parallelism": res.array_parallelism,
            # compute.numerics: its variables must be set before the job's Python loads torch/numpy/jax
            "setup": slurm_setup(compute.numerics, compute.threads),
        }
        if res.partition:
            params["partition"] = res.partition
        if res.gpus:
            params["gpus_per_node"] = res.gpus
        if res.slurm_extra:
            params["additional_parameters"] = dict(res.slurm_extra)
        ex.update_parameters(**params)
        return ex
    raise DispatchError(f"unknown executor {kind!r}; use one of {', '.join(EXECUTORS)}")


def _log_text(job: Any, n: int = 200) -> str:
    """The last ``n`` lines of the job's stderr and stdout (where slurmstepd and submitit say how it ended)."""
    return "\n".join(log_tail(p, n) for p in (job.paths.stderr, job.paths.stdout))


def _job_error_line(exc: Exception) -> str:
    """The last line of the job's own traceback from a submitit error message."""
    text = str(exc)
    parts = text.split("----------------------")
    body = parts[1] if len(parts) >= 3 else text
    lines = [ln.strip() for ln in body.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def job_result(job: Any, stage: str) -> Any:
    """``job.result()``, with failures turned into :class:`DispatchError` (job id + stderr tail)."""
    # local: submitit is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from submitit.core.utils import FailedJobError, UncompletedJobError

    is_debug = type(job).__name__ == "DebugJob"
    if not is_debug and not job.paths.result_pickle.exists():
        tail = log_tail(job.paths.stderr)
        state = final_state(job.job_id, _log_text(job))
        raise DispatchError(
            failure_message(
                stage,
                job.job_id,
                state,
                "it ended without a result (killed by Slurm: time limit, memory limit, cancellation or node failure)"
                if base_state(state) not in TERMINAL_STATES
                else "it ended without a result",
                job.paths.stderr,
                tail,
            )
        )
    if is_debug:
        try:
            return job.result()
        except Exception as exc:  # the debug executor re-raises the function's own exception
            raise DispatchError(
                f"stage {stage}: job {job.job_id} failed (debug executor): {type(exc).__name__}: {exc}"
            ) from exc
    try:
        # results(): one entry per task (a multi-task DDP job returns rank 0's result).
        return job.results()[0]
    except (FailedJobError, UncompletedJobError) as exc:
        line = _job_error_line(exc)
        state = final_state(job.job_id, line + "\n" + _log_text(job))
        raise DispatchError(
            failure_message(stage, job.job_id, state, line, job.paths.stderr, log_tail(job.paths.stderr))
        ) from None


def submit_job(stage: str, submit: Callable[[], Any]) -> Any:
    """Call ``submit``; an ``sbatch`` rejection becomes a :class:`DispatchError` naming the params."""
    # local: submitit is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from submitit.core.utils import FailedJobError

    try:
        return submit()
    except FailedJobError as exc:
        text = str(exc).strip().splitlines()
        raise DispatchError(
            f"stage {stage}: Slurm rejected the job: {text[-1] if text else exc}. Check the resources "
            f"under compute.stages.{stage.split('@')[0]} / compute.default in params.yaml "
            f"(e.g. gpus on a cluster without GPUs, an unknown partition or account)."
        ) from None


def log_submitted(jobs: list[Any], stage: str) -> None:
    """Log one line per submitted job: its id and its stdout/stderr log files."""
    for j in jobs:
        log.info("stage %s: submitted job %s; logs: %s, %s", stage, j.job_id, j.paths.stdout, j.paths.stderr)
