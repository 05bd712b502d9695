"""The ``compute`` section: executor (local, debug, slurm) and per-stage resources; :class:`DispatchError`."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from ethoflow.core.errors import EthoflowError
from ethoflow.core.params import DEFAULT_PARAMS, StrictModel, load_section

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
        numerics: ``portable`` (the same bytes on any x86-64 CPU; the committed ``dvc.lock`` is made
            with it) or ``fast`` (each library's widest ISA and all cores); see :mod:`ethoflow.core.numerics`.
            Unlike the rest of this section it changes results, so the stages that compute list it.
        threads: threads of OpenMP, MKL, OpenBLAS and torch in portable mode (part of the result:
            a reduction's rounding follows its split); ``fast`` leaves the libraries' defaults.
        default: resources for every stage.
        stages: per-stage overrides, keyed by DVC stage name without the ``@item`` suffix.
    """

    executor: Executor = "local"
    numerics: Literal["portable", "fast"] = "portable"
    threads: int = Field(default=2, ge=1)
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
