"""The public calls: :func:`run` (one job) and :func:`map_array` (a Slurm job array, one task per item).

Multi-task jobs (``tasks_per_node`` > 1, e.g. DDP training with one rank per task) go through :func:`run`;
rank 0's result comes back.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

from ethoflow.core.logging import get_logger
from ethoflow.core.numerics import call_in_mode
from ethoflow.core.params import DEFAULT_PARAMS
from ethoflow.dispatch.executors import job_result, log_submitted, make_executor, submit_job
from ethoflow.dispatch.params import ComputeParams, DispatchError, load_compute
from ethoflow.dispatch.slurm import wait_for_jobs

log = get_logger("ethoflow.dispatch")


def in_mode(fn: Callable[..., Any], compute: ComputeParams) -> Callable[..., Any]:
    """``fn`` wrapped to apply ``compute.numerics`` first in the job (picklable)."""
    return functools.partial(call_in_mode, compute.numerics, compute.threads, fn)


def run(
    fn: Callable[..., Any],
    *args: Any,
    stage: str,
    compute: ComputeParams | None = None,
    params_path: str | os.PathLike = DEFAULT_PARAMS,
    poll_s: float = 1.0,
    **kwargs: Any,
) -> Any:
    """Run ``fn(*args, **kwargs)`` for ``stage`` on the configured executor; return its result.

    Args:
        fn: a picklable top-level function (it must not rely on global state set by the caller).
        stage: the DVC stage name (``"acoustic_train"`` or ``"acoustic_train@v1"``); picks the
            resources from ``compute.stages`` and names the job folder.
        compute: the ``compute`` params; read from ``params_path`` when ``None``.

    Raises:
        DispatchError: the job failed, timed out or was cancelled (job id and stderr tail).
        KeyboardInterrupt: after cancelling the job.
    """
    compute = compute or load_compute(params_path)
    kind = compute.effective_executor()
    executor = make_executor(stage, compute, kind)
    if executor is None:
        log.debug("stage %s: running in-process", stage)
        return fn(*args, **kwargs)
    # the job applies compute.numerics (its batch script exports the variables, see make_executor)
    job = submit_job(stage, lambda: executor.submit(in_mode(fn, compute), *args, **kwargs))
    if kind == "debug":
        return job_result(job, stage)
    log_submitted([job], stage)
    wait_for_jobs([job], stage, poll_s)
    return job_result(job, stage)


def map_array(
    fn: Callable[..., Any],
    *iterables: Sequence[Any],
    stage: str,
    compute: ComputeParams | None = None,
    params_path: str | os.PathLike = DEFAULT_PARAMS,
    poll_s: float = 1.0,
) -> list[Any]:
    """``[fn(*xs) for xs in zip(*iterables)]``, as one Slurm job array when the executor is ``slurm``.

    Results come back in input order. With ``local`` the calls run one after another in-process.
    At most ``array_parallelism`` array tasks run at once.

    Raises:
        DispatchError: any task failed (each failed task's id and stderr tail are listed).
    """
    compute = compute or load_compute(params_path)
    kind = compute.effective_executor()
    executor = make_executor(stage, compute, kind)
    if executor is None:
        return [fn(*xs) for xs in zip(*iterables)]
    jobs = submit_job(stage, lambda: executor.map_array(in_mode(fn, compute), *iterables))
    if kind != "debug":
        log_submitted(jobs, stage)
        wait_for_jobs(jobs, stage, poll_s)
    results, errors = [], []
    for job in jobs:
        try:
            results.append(job_result(job, stage))
        except DispatchError as exc:
            errors.append(str(exc))
    if errors:
        raise DispatchError(f"stage {stage}: {len(errors)} of {len(jobs)} array tasks failed\n" + "\n".join(errors))
    return results
