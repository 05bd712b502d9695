"""Run a stage's heavy function in-process or on Slurm, through submitit.

The ``compute`` section of ``params.yaml`` says where and with what resources; it is read here and
listed in no stage's ``params:``, so moving from a laptop to a cluster never invalidates results. The
exceptions are ``compute.numerics`` and ``compute.threads`` (portable or fast CPU kernels,
:mod:`ethoflow.core.numerics`), which change results and are listed by every stage: a Slurm job exports
the mode's variables in its batch script and applies the rest before the stage's function runs.
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

Modules: ``params`` (the ``compute`` section), ``executors`` (submitit executors, submission, results),
``slurm`` (job states, log streaming, failure messages), ``jobs`` (:func:`run`, :func:`map_array`). The
public API is the names in ``__all__`` (``from ethoflow import dispatch; dispatch.run(...)``).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "params": (
        "DEFAULT_RESOURCES",
        "ENV_EXECUTOR",
        "EXECUTORS",
        "ComputeParams",
        "DispatchError",
        "StageResources",
        "load_compute",
    ),
    "executors": ("jobs_dir", "make_executor"),
    "slurm": ("failure_message", "slurm_available", "state_from_log"),
    "jobs": ("map_array", "run"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
