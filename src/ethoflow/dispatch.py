"""Run a stage's heavy function in-process or on Slurm, through submitit.

The ``compute`` section of ``params.yaml`` says where and with what resources; it is read here and
listed in no stage's ``params:``, so moving from a laptop to a cluster never invalidates results.
The ``ETHOFLOW_EXECUTOR`` environment variable (``local``, ``debug``, ``slurm``) overrides
``compute.executor``.

Executors:

- ``local``: call the function in this process (no pickling), the default.
- ``debug``: submitit's ``DebugExecutor``: in this process, but through submitit's job machinery
  (pickling, job folder, ``job.result()``), useful to check that a function is submittable;
  on failure submitit opens a pdb post-mortem session at the failing line (its purpose).
- ``slurm``: submitit's ``SlurmExecutor`` with the stage's resources; the job's log paths are
  logged and its output streamed while the stage blocks on ``job.result()`` (so ``dvc repro`` only
  records outs once the job is done). Ctrl-C cancels the job. A failed, timed-out or cancelled job
  raises :class:`DispatchError` with the job id and the tail of its stderr, which the stage runner
  turns into a non-zero exit.

Job logs live in ``<project>/.ethoflow/jobs/<stage>/`` (git-ignored), never in /tmp.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ethoflow.core.errors import EthoflowError
from ethoflow.core.logging import get_logger
from ethoflow.core.params import DEFAULT_PARAMS, StrictModel, load_section
from ethoflow.core.paths import state_dir

log = get_logger(__name__)

Executor = Literal["local", "debug", "slurm"]
EXECUTORS: tuple[str, ...] = ("local", "debug", "slurm")
ENV_EXECUTOR = "ETHOFLOW_EXECUTOR"


class DispatchError(EthoflowError):
    """A dispatched job failed, timed out or was cancelled (message has job id and stderr tail)."""


class StageResources(StrictModel):
    """Resources for one stage's job. Unset fields fall back to ``compute.default``.

    Attributes:
        partition: Slurm partition (``None``: the cluster's default).
        gpus: GPUs per node.
        cpus: CPUs per task.
        mem_gb: memory per node in GB.
        timeout_min: wall-clock limit in minutes (always passed to submitit).
        tasks_per_node: processes per node (DDP training uses one per GPU).
        nodes: nodes per job.
        array_parallelism: how many array tasks run at once.
        slurm_extra: further sbatch options, e.g. ``{"account": "mylab", "qos": "normal"}``.
        options: stage-specific execution options that do not change results (e.g. moseq's
            ``parallel_message_passing``); each stage validates its own.
    """

    partition: str | None = None
    gpus: int | None = Field(default=None, ge=0)
    cpus: int | None = Field(default=None, ge=1)
    mem_gb: float | None = Field(default=None, gt=0)
    timeout_min: int | None = Field(default=None, ge=1)
    tasks_per_node: int | None = Field(default=None, ge=1)
    nodes: int | None = Field(default=None, ge=1)
    array_parallelism: int | None = Field(default=None, ge=1)
    slurm_extra: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


DEFAULT_RESOURCES = StageResources(
    partition=None,
    gpus=0,
    cpus=1,
    mem_gb=4,
    timeout_min=60,
    tasks_per_node=1,
    nodes=1,
    array_parallelism=8,
    slurm_extra={},
    options={},
)


class ComputeParams(StrictModel):
    """The ``compute`` section of ``params.yaml``.

    Attributes:
        executor: ``local``, ``debug`` or ``slurm`` (``ETHOFLOW_EXECUTOR`` overrides it).
        default: resources for every stage.
        stages: per-stage overrides, keyed by DVC stage name without the ``@item`` suffix.
    """

    executor: Executor = "local"
    default: StageResources = Field(default_factory=StageResources)
    stages: dict[str, StageResources] = Field(default_factory=dict)

    def resources(self, stage: str) -> StageResources:
        """Merged resources for ``stage`` (``"acoustic_train@v1"`` uses ``acoustic_train``)."""
        base = DEFAULT_RESOURCES.model_dump()
        for layer in (self.default, self.stages.get(stage.split("@")[0])):
            if layer is None:
                continue
            for key, value in layer.model_dump(exclude_none=True).items():
                if key in ("slurm_extra", "options"):
                    base[key] = {**base[key], **value}
                else:
                    base[key] = value
        return StageResources(**base)

    def effective_executor(self) -> str:
        """``ETHOFLOW_EXECUTOR`` if set (validated), else ``executor``."""
        env = os.environ.get(ENV_EXECUTOR)
        if env:
            if env not in EXECUTORS:
                raise DispatchError(f"{ENV_EXECUTOR}={env!r} is not an executor; use one of {', '.join(EXECUTORS)}")
            return env
        return self.executor


def load_compute(path: str | os.PathLike = DEFAULT_PARAMS) -> ComputeParams:
    """Load the ``compute`` section (absent section: all defaults, executor ``local``)."""
    return load_section("compute", ComputeParams, path, required=False)


def jobs_dir(stage: str) -> Path:
    """``<project>/.ethoflow/jobs/<stage>/`` (created)."""
    return state_dir("jobs", stage.replace("@", "_").replace("/", "_"))


def make_executor(stage: str, compute: ComputeParams, executor: str | None = None) -> Any:
    """A submitit executor for ``stage`` with its resources (``None`` for the ``local`` executor)."""
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


def _tail(path: Path | None, n: int = 40) -> str:
    if path is None or not Path(path).exists():
        return "(no log file)"
    lines = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:]) if lines else "(empty)"


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
    import subprocess

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


def _base_state(state: str) -> str:
    """``"FAILED (NonZeroExitCode)"`` -> ``"FAILED"``; ``"CANCELLED by 1000"`` -> ``"CANCELLED"``."""
    return state.split()[0] if state.strip() else "UNKNOWN"


def state_from_log(text: str) -> str | None:
    """The final state the job's log text names (time limit, out of memory, cancellation...), or None."""
    for pattern, state in _LOG_STATES:
        if pattern.search(text):
            return state
    return None


def _final_state(job_id: str, log_text: str, wait_s: float = 10.0, poll_s: float = 0.5) -> str:
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
    while _base_state(state) not in TERMINAL_STATES and _base_state(state) != "UNKNOWN" and time.time() < deadline:
        time.sleep(poll_s)
        state = _scontrol_state(job_id)
    base = _base_state(state)
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
    }.get(_base_state(state))
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
    import subprocess

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


def _wait(jobs: list[Any], stage: str, poll_s: float, grace_s: float = 5.0) -> None:
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


def _log_text(job: Any, n: int = 200) -> str:
    """The last ``n`` lines of the job's stderr and stdout (where slurmstepd and submitit say how it ended)."""
    return "\n".join(_tail(p, n) for p in (job.paths.stderr, job.paths.stdout))


def _job_error_line(exc: Exception) -> str:
    """The last line of the job's own traceback from a submitit error message."""
    text = str(exc)
    parts = text.split("----------------------")
    body = parts[1] if len(parts) >= 3 else text
    lines = [ln.strip() for ln in body.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else type(exc).__name__


def _result(job: Any, stage: str) -> Any:
    """``job.result()``, with failures turned into :class:`DispatchError` (job id + stderr tail)."""
    from submitit.core.utils import FailedJobError, UncompletedJobError

    is_debug = type(job).__name__ == "DebugJob"
    if not is_debug and not job.paths.result_pickle.exists():
        tail = _tail(job.paths.stderr)
        state = _final_state(job.job_id, _log_text(job))
        raise DispatchError(
            failure_message(
                stage,
                job.job_id,
                state,
                "it ended without a result (killed by Slurm: time limit, memory limit, cancellation or node failure)"
                if _base_state(state) not in TERMINAL_STATES
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
        state = _final_state(job.job_id, line + "\n" + _log_text(job))
        raise DispatchError(
            failure_message(stage, job.job_id, state, line, job.paths.stderr, _tail(job.paths.stderr))
        ) from None


def _submit(stage: str, submit: Callable[[], Any]) -> Any:
    """Call ``submit``; an ``sbatch`` rejection becomes a :class:`DispatchError` naming the params."""
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


def _log_submitted(jobs: list[Any], stage: str) -> None:
    for j in jobs:
        log.info("stage %s: submitted job %s; logs: %s, %s", stage, j.job_id, j.paths.stdout, j.paths.stderr)


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
    job = _submit(stage, lambda: executor.submit(fn, *args, **kwargs))
    if kind == "debug":
        return _result(job, stage)
    _log_submitted([job], stage)
    _wait([job], stage, poll_s)
    return _result(job, stage)


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
    jobs = _submit(stage, lambda: executor.map_array(fn, *iterables))
    if kind != "debug":
        _log_submitted(jobs, stage)
        _wait(jobs, stage, poll_s)
    results, errors = [], []
    for job in jobs:
        try:
            results.append(_result(job, stage))
        except DispatchError as exc:
            errors.append(str(exc))
    if errors:
        raise DispatchError(f"stage {stage}: {len(errors)} of {len(jobs)} array tasks failed\n" + "\n".join(errors))
    return results


def slurm_available(timeout_s: float = 5.0) -> bool:
    """True when ``sinfo`` answers and lists at least one usable node."""
    import shutil
    import subprocess

    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    states = out.stdout.split()
    return out.returncode == 0 and any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states)
