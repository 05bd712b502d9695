"""The ``ethoflow`` command: ``ethoflow doctor`` and the per-pipeline utilities.

Pipelines add a subcommand by naming a module in :data:`SUBCOMMANDS`; the module provides
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
subcommand runs, so ``ethoflow doctor`` stays fast. ``ethoflow check-params`` (or ``ethoflow doctor
--params``) only validates ``params.yaml``, without importing torch or jax; ``make repro`` runs it
before ``dvc repro``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import os
import platform
import sys

from ethoflow.core import selftest
from ethoflow.core.errors import EthoflowError
from ethoflow.core.logging import get_logger, setup_logging

#: subcommand name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "build06": ("ethoflow.build06.cli", "merge VAE latents into df02 -> df03 (dry run, overwrite, schema)"),
    "repro": ("ethoflow.repro", "dvc repro with up to N independent stale stages at once (-j N)"),
    "metrics": ("ethoflow.metrics_view", "headline metrics one row per number (--diff REV for review)"),
    "report": ("ethoflow.report.cli", "open a pipeline's review page; write the offline dvc plots template"),
}


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


#: distributions every stage needs: "not installed" for one of them is a problem the doctor reports
REQUIRED_DISTS = ("ethoflow", "torch", "jax", "jaxlib", "keypoint-moseq", "dvc", "submitit", "zarr")

#: the exit status of a command whose reader went away (``ethoflow metrics | head``): 128 + SIGPIPE,
#: as ``yes | head`` and git report it
EXIT_BROKEN_PIPE = 141


def doctor_problems(rows: list[tuple[str, str]]) -> list[str]:
    """The rows of :func:`doctor_report` that say something is wrong, as ``item: value`` lines.

    Wrong: a required distribution not installed, a torch/jax import error, an invalid params file,
    an executor that cannot be determined, ``compute.executor: slurm`` while Slurm does not answer,
    and (with ``--slurm``) a test job that failed. Not wrong: no GPU, Slurm unreachable while the
    executor is local.
    """
    values = dict(rows)
    bad = []
    for key, value in rows:
        if (
            (key in REQUIRED_DISTS and value == "not installed")
            or value.startswith(("error:", "INVALID", "params error", "FAILED"))
            or (key == "executor" and value.startswith("slurm") and values.get("slurm") == "not reachable")
        ):
            bad.append(f"{key}: {value}")
    return bad


def doctor_report() -> list[tuple[str, str]]:
    """(item, value) rows: versions, Slurm, GPUs for torch and jax, and the executor in use.

    :func:`doctor_problems` picks the rows that say something is wrong (``ethoflow doctor`` then exits 1).
    """
    # local: keeps ethoflow.cli importable without pydantic
    from ethoflow.dispatch import DispatchError, load_compute, slurm_available

    rows = [("python", platform.python_version() + f" ({sys.executable})")]
    for dist in ("ethoflow", "torch", "jax", "jaxlib", "keypoint-moseq", "dvc", "dvclive", "submitit", "zarr"):
        rows.append((dist, _version(dist)))
    rows.append(("slurm", "answers (sinfo lists a usable node)" if slurm_available() else "not reachable"))
    try:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch

        gpu = torch.cuda.is_available()
        rows.append(("torch GPU", f"yes: {torch.cuda.get_device_name(0)}" if gpu else "no (CPU)"))
    except Exception as exc:  # noqa: BLE001 - report, never crash the doctor
        rows.append(("torch GPU", f"error: {exc}"))
    try:
        # local: jax is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import jax

        devs = jax.devices()
        rows.append(("jax devices", ", ".join(f"{d.platform}:{d.id}" for d in devs)))
    except Exception as exc:  # noqa: BLE001
        rows.append(("jax devices", f"error: {exc}"))
    try:
        # local: keeps ethoflow.cli importable without numpy
        from ethoflow.config import load_project_params

        load_project_params()
        rows.append(("params.yaml", "valid (every section)"))
    except EthoflowError as exc:
        rows.append(("params.yaml", f"INVALID: {exc}"))
    try:
        compute = load_compute()
        rows.append(
            (
                "executor",
                f"{compute.effective_executor()} (compute.executor={compute.executor}, ETHOFLOW_EXECUTOR overrides)",
            )
        )
    except EthoflowError as exc:
        rows.append(("executor", f"params error: {exc}"))
    except DispatchError as exc:  # pragma: no cover - subclass of EthoflowError
        rows.append(("executor", str(exc)))
    return rows


def slurm_check() -> str:
    """Submit one tiny job through ``ethoflow.dispatch`` to Slurm and describe where it ran."""
    # local: keeps ethoflow.cli importable without pydantic
    from ethoflow.dispatch import ComputeParams, StageResources, run

    compute = ComputeParams(executor="slurm", default=StageResources(cpus=1, mem_gb=1, timeout_min=5))
    out = run(selftest.hello, 6, stage="doctor", compute=compute, poll_s=0.5)
    return f"job {out['job']} on {out['host']} returned {out['square']}"


def check_params(path: str = "params.yaml") -> int:
    """Validate every section of the params file ``path``, importing no torch/jax (about a second).

    ``make repro`` runs this before ``dvc repro``: DVC deletes a stage's outs before running it, so
    a misspelled key must stop the run before DVC starts, not at stage start.

    Returns:
        0 when valid (one line on stdout); 2 when not, with one line per problem on stderr, each
        naming the file and the dotted key (``params.yaml: hbehave.heatmaps.dpii: unknown key ...``).
    """
    # local: keeps ethoflow.cli importable without numpy
    from ethoflow.config import load_project_params

    try:
        load_project_params(path)
    except EthoflowError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{path}: valid (every section)")
    return 0


def _check_params(args: argparse.Namespace) -> int:
    return check_params(args.path)


def _doctor(args: argparse.Namespace) -> int:
    if getattr(args, "params", False):
        return check_params()
    rows = doctor_report()
    if getattr(args, "slurm", False):
        try:
            rows.append(("slurm job", slurm_check()))
        except Exception as exc:  # noqa: BLE001 - a failed test job is a finding of the doctor, not a crash
            rows.append(("slurm job", f"FAILED: {type(exc).__name__}: {exc}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    problems = doctor_problems(rows)
    if problems:
        print(f"{len(problems)} problem(s): " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ethoflow", description="ethoflow: reproducible behaviour-ML pipelines")
    parser.add_argument("--version", action="version", version=f"ethoflow {_version('ethoflow')}")
    sub = parser.add_subparsers(dest="command", required=True)
    doc = sub.add_parser("doctor", help="versions, Slurm, GPUs and the executor stages would use")
    doc.add_argument("--slurm", action="store_true", help="also submit a tiny test job to Slurm")
    doc.add_argument(
        "--params",
        action="store_true",
        help="only validate params.yaml (fast, as `ethoflow check-params`); exit 2 if invalid",
    )
    doc.set_defaults(func=_doctor)
    chk = sub.add_parser("check-params", help="validate every section of params.yaml; exit 2 naming file and key")
    chk.add_argument("path", nargs="?", default="params.yaml", help="params file (default: params.yaml)")
    chk.set_defaults(func=_check_params)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(module=module)
        # Arguments are added lazily below, only for the chosen subcommand.
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ethoflow`` console script."""
    setup_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
        parser = argparse.ArgumentParser(prog=f"ethoflow {argv[0]}", description=SUBCOMMANDS[argv[0]][1])
        module.add_arguments(parser)
        args = parser.parse_args(argv[1:])
        runner = module.run
    else:
        args = build_parser().parse_args(argv)
        runner = args.func
    # local: keeps ethoflow.cli importable without yaml
    from ethoflow.core.stage import debug_enabled, error_line

    log = get_logger("ethoflow.cli")
    try:
        rc = int(runner(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return rc
    except BrokenPipeError:
        return _reader_went_away()
    except EthoflowError as exc:
        if debug_enabled([]):
            log.exception("%s", exc)
        else:
            log.error("%s", exc)
        return exc.exit_code
    except Exception as exc:  # an OSError or a pyarrow/zarr/torch/h5py error: one line (see core.stage)
        line = error_line(exc)
        if line is None or debug_enabled([]):
            raise
        log.error("%s (traceback: set ETHOFLOW_DEBUG=1)", line)
        return 1


def _reader_went_away() -> int:
    """``ethoflow ... | head``: the reader closed the pipe. End quietly, as ``yes | head`` does.

    stdout is pointed at /dev/null so that Python's final flush at exit cannot raise again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed or replaced (tests)
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
