"""``ethoflow repro -j N [targets...]``: run independent stale DVC stages at the same time.

``dvc repro`` runs one stage after another, and a dispatched stage blocks on its Slurm job, so on a
cluster the variants of a ``foreach``/``matrix`` stage train one after another. This command plans
the same work as ``dvc repro [targets]`` and runs up to ``N`` stages at once, each as its own
``dvc --wait-for-lock repro --single-item <stage>`` process (which dispatches its own job as usual,
so ``N`` variants become ``N`` concurrent Slurm jobs).

What it guarantees:

- **Same stages, same results as ``dvc repro``.** The plan is DVC's own: the targets' upstream stages
  in ``dvc repro``'s order (frozen stages cut off from their dependencies, as DVC does). Every stage
  is run by DVC itself, which re-checks whether it changed, runs it (or restores it from the run
  cache) and records it in ``dvc.lock``.
- **DAG order.** A stage is *stale* when DVC reports it changed, or when it is downstream of a stale
  stage (its inputs are about to change even though ``dvc status`` cannot say so yet). A stale stage
  starts only once every stale stage it depends on has finished successfully; stages that are not
  stale are never started. If an upstream stage's new outputs turn out identical, DVC skips the
  downstream stage (reported as "unchanged").
- **No lock clashes.** DVC holds the repo lock while it checks and records a stage and releases it
  while the stage's command runs; ``--wait-for-lock`` makes each process queue for that short
  window instead of failing. DVC's per-path read/write locks never clash, because two stages run at
  the same time only when neither depends on the other.
- **Stop on failure.** After a stage fails no new stage starts; running stages finish (and are
  recorded in ``dvc.lock``); the command exits non-zero with one line naming the failed stage, its
  Slurm job id (when the stage submitted one) and its log; the log's tail is printed first.
- **Logs.** Each stage's output goes to ``.ethoflow/repro/<stage>.log`` (overwritten per run, with
  start/end times); progress lines (started/finished, elapsed) go to stdout.
- **Ctrl-C** is passed on to every running stage (a dispatched stage then cancels its Slurm job).

Child processes get the launching Python's ``bin`` folder first on ``PATH``, so the stages'
``python ...`` commands use the same environment as ``ethoflow``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ethoflow.core.errors import EthoflowError

#: dispatch logs "stage <name>: submitted job <id>; logs: <stdout>, <stderr>"
_SUBMITTED = re.compile(r"submitted job ([^\s;]+)")
_UNCHANGED = re.compile(r"didn't change, skipping")


class ReproError(EthoflowError):
    """A stage failed under ``ethoflow repro`` (or the plan could not be made)."""


@dataclass
class Plan:
    """What ``ethoflow repro`` will run.

    Attributes:
        order: the stages to run (DVC addressing, e.g. ``acoustic_train@v1``), in ``dvc repro`` order.
        waits_for: for each stage in ``order``, the stages of ``order`` it depends on.
        changed: the stages DVC itself reports as changed (the rest of ``order`` is downstream of them).
        up_to_date: how many of the targets' stages need nothing.
    """

    order: list[str]
    waits_for: dict[str, set[str]]
    changed: set[str] = field(default_factory=set)
    up_to_date: int = 0


@dataclass
class Outcome:
    """How one stage ended.

    Attributes:
        stage: DVC addressing of the stage.
        status: ``ran``, ``unchanged`` (DVC found nothing to do), ``failed`` or ``not started``.
        returncode: the ``dvc repro`` process's exit status (``None`` when not started).
        elapsed_s: wall-clock seconds from start to end.
        log: the stage's log file.
        job_ids: Slurm job ids the stage submitted (from the dispatch log lines).
        started, ended: ``time.time()`` at start and end (``None`` when not started).
    """

    stage: str
    status: str
    returncode: int | None = None
    elapsed_s: float = 0.0
    log: Path | None = None
    job_ids: list[str] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None


def make_plan(targets: Sequence[str] = (), root: str | os.PathLike | None = None) -> Plan:
    """Plan ``dvc repro [targets]`` with DVC's Python API: stale stages and their dependencies.

    Holds the repo lock only while reading the status (fails after a few seconds, naming the lock,
    when another DVC process holds it).

    Raises:
        ReproError: unknown target, invalid ``dvc.yaml`` or the repo lock is taken (one line).
    """
    # local: keeps ethoflow.repro importable without networkx
    import networkx as nx
    from dvc.dvcfile import PROJECT_FILE
    from dvc.exceptions import DvcException
    from dvc.repo import Repo, lock_repo
    from dvc.repo.reproduce import collect_stages, get_active_graph, plan_repro

    try:
        with Repo(root) as repo, lock_repo(repo):
            stages = collect_stages(repo, list(targets) or [PROJECT_FILE])
            graph = get_active_graph(repo.index.graph)
            steps = plan_repro(graph, stages)
            changed = {s for s in steps if s.changed()}
            sub = graph.subgraph(steps)
            stale = set(changed)
            for s in changed:  # edges point from a stage to its dependencies
                stale |= nx.ancestors(sub, s)
            order = [s for s in steps if s in stale]
            plan = Plan(
                order=[s.addressing for s in order],
                waits_for={s.addressing: {d.addressing for d in sub.successors(s) if d in stale} for s in order},
                changed={s.addressing for s in changed},
                up_to_date=len(steps) - len(order),
            )
    except DvcException as exc:
        text = " ".join(str(exc).split())
        raise ReproError(f"cannot plan dvc repro {' '.join(targets)}: {text}".replace("  ", " ")) from None
    return plan


def log_name(stage: str) -> str:
    """File name of a stage's log (``acoustic_train@v1`` -> ``acoustic_train@v1.log``)."""
    return re.sub(r"[/:\\]", "_", stage) + ".log"


def dvc_command(stage: str) -> list[str]:
    """``python -m dvc --wait-for-lock repro --single-item <stage>`` with this environment's Python."""
    return [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", stage]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def tail(path: Path, n_lines: int = 30) -> str:
    """The last ``n_lines`` lines of ``path`` (or a note when it cannot be read)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n_lines:])


@dataclass
class _Running:
    proc: subprocess.Popen
    fh: IO[bytes]
    started: float
    t0: float


@dataclass(frozen=True)
class ChildProcess:
    """Where and how :func:`schedule` runs each stage's command: working folder and environment
    (``None``: the caller's)."""

    cwd: str | os.PathLike | None = None
    env: Mapping[str, str] | None = None


def schedule(
    order: Sequence[str],
    waits_for: Mapping[str, set[str] | frozenset[str]],
    command: Callable[[str], list[str]],
    jobs: int,
    log_dir: str | os.PathLike,
    *,
    child: ChildProcess | None = None,
    poll_s: float = 0.2,
    out: IO[str] | None = None,
) -> list[Outcome]:
    """Run ``command(stage)`` for every stage of ``order``, at most ``jobs`` at once, in DAG order.

    A stage starts when every stage it ``waits_for`` has succeeded (exit status 0); among ready
    stages the earlier in ``order`` starts first. After the first failure no stage starts; the
    running ones are waited for. Each stage's stdout and stderr go to ``log_dir/<stage>.log``; each
    command runs in ``child.cwd`` with ``child.env`` (:class:`ChildProcess`; ``None``: the caller's).
    Progress lines go to ``out`` (stdout by default); running stages are polled every ``poll_s`` s.
    Returns one :class:`Outcome` per stage of ``order`` (in ``order``). Ctrl-C sends SIGINT to the
    running stages, waits for them and re-raises.

    Raises:
        ReproError: ``jobs < 1``, a stage waits for one that is not planned, or no stage can start
            (a dependency cycle).
    """
    if jobs < 1:
        raise ReproError(f"-j must be at least 1 (got {jobs})")
    unknown = {d for s in order for d in waits_for.get(s, ()) if d not in order}
    if unknown:
        raise ReproError(f"stages wait for stages that are not planned: {', '.join(sorted(unknown))}")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    run = _Schedule(order, waits_for, command, log_dir, child or ChildProcess(), out or sys.stdout)
    try:
        run.loop(jobs, poll_s)
    except KeyboardInterrupt:
        run.interrupt()
        raise
    return [run.outcomes[s] for s in order]


class _Schedule:
    """The state of one :func:`schedule` run: stages pending, running and done, their outcomes."""

    def __init__(
        self,
        order: Sequence[str],
        waits_for: Mapping[str, set[str] | frozenset[str]],
        command: Callable[[str], list[str]],
        log_dir: Path,
        child: ChildProcess,
        out: IO[str],
    ):
        self.waits_for, self.command, self.log_dir, self.child, self.out = waits_for, command, log_dir, child, out
        self.t_start = time.monotonic()
        self.outcomes: dict[str, Outcome] = {s: Outcome(s, "not started") for s in order}
        self.pending = list(order)
        self.running: dict[str, _Running] = {}
        self.done_ok: set[str] = set()
        self.failed = False

    def say(self, msg: str) -> None:
        el = int(time.monotonic() - self.t_start)
        self.out.write(f"[{el // 60:02d}:{el % 60:02d}] {msg}\n")
        self.out.flush()

    def loop(self, jobs: int, poll_s: float) -> None:
        """Start ready stages (up to ``jobs`` running) and poll the running ones until none is left.

        Raises:
            ReproError: stages are pending but none can start (a dependency cycle).
        """
        while True:
            if not self.failed:
                for stage in [s for s in self.pending if set(self.waits_for.get(s, ())) <= self.done_ok]:
                    if len(self.running) >= jobs:
                        break
                    self.pending.remove(stage)
                    self.start(stage)
            if not self.running:
                if self.pending and not self.failed:
                    raise ReproError(f"no stage can start (dependency cycle?): {', '.join(self.pending)}")
                break
            time.sleep(poll_s)
            for stage in list(self.running):
                rc = self.running[stage].proc.poll()
                if rc is not None:
                    self.finish(stage, rc)
                    self.failed = self.failed or rc != 0

    def start(self, stage: str) -> None:
        path = self.log_dir / log_name(stage)
        fh = open(path, "wb")  # noqa: SIM115 - closed when the stage ends
        now = time.time()
        cmd = self.command(stage)
        fh.write(f"# ethoflow repro: {stage} started {_iso(now)}\n# $ {' '.join(cmd)}\n".encode())
        fh.flush()
        env = self.child.env
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.child.cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        self.running[stage] = _Running(proc, fh, now, time.monotonic())
        self.outcomes[stage] = Outcome(stage, "running", log=path, started=now)
        waiting = len(self.pending)
        self.say(f"started  {stage} ({len(self.running)} running, {waiting} waiting)")

    def finish(self, stage: str, rc: int) -> None:
        r = self.running.pop(stage)
        now = time.time()
        r.fh.write(f"# ethoflow repro: {stage} ended {_iso(now)} with exit status {rc}\n".encode())
        r.fh.close()
        o = self.outcomes[stage]
        o.returncode, o.ended, o.elapsed_s = rc, now, time.monotonic() - r.t0
        text = o.log.read_text(errors="replace") if o.log else ""
        o.job_ids = list(dict.fromkeys(_SUBMITTED.findall(text)))
        jobs_note = f"; Slurm job {', '.join(o.job_ids)}" if o.job_ids else ""
        if rc == 0:
            o.status = "unchanged" if _UNCHANGED.search(text) else "ran"
            self.done_ok.add(stage)
            unchanged = " (unchanged)" if o.status == "unchanged" else ""
            self.say(f"finished {stage} in {o.elapsed_s:.1f}s{unchanged}{jobs_note}")
        else:
            o.status = "failed"
            self.say(f"FAILED   {stage} after {o.elapsed_s:.1f}s (exit {rc}{jobs_note}); log: {o.log}")

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to every running stage's process group, then wait (SIGKILL after 120 s)."""
        self.say(f"interrupted: stopping {', '.join(self.running) or 'nothing'}")
        for r in self.running.values():
            try:
                os.killpg(r.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        for stage, r in list(self.running.items()):
            try:
                rc = r.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(r.proc.pid, signal.SIGKILL)
                rc = r.proc.wait()
            self.finish(stage, rc)


def failure_message(outcomes: Sequence[Outcome], root: str | os.PathLike | None = None) -> str | None:
    """One line naming the failed stage(s), their Slurm job ids and logs; ``None`` when none failed."""
    bad = [o for o in outcomes if o.status == "failed"]
    if not bad:
        return None
    parts = []
    for o in bad:
        log = o.log
        if log is not None and root is not None:
            try:
                log = log.relative_to(root)
            except ValueError:
                pass
        job = f", Slurm job {', '.join(o.job_ids)}" if o.job_ids else ""
        parts.append(f"{o.stage} (exit {o.returncode}{job}; log {log})")
    skipped = sum(o.status == "not started" for o in outcomes)
    more = f"; {skipped} stage{'s' if skipped != 1 else ''} not started" if skipped else ""
    return f"stage{'s' if len(bad) > 1 else ''} failed: {', '.join(parts)}{more}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``-j N``, ``--dry`` and the optional DVC targets."""
    parser.add_argument("-j", "--jobs", type=int, default=1, help="how many stages run at once (default: %(default)s)")
    parser.add_argument(
        "--dry", action="store_true", help="print the stale stages and what each waits for; run nothing"
    )
    parser.add_argument("targets", nargs="*", help="DVC stages or dvc.yaml files as for dvc repro (default: all)")


def run(args: argparse.Namespace) -> int:
    """Plan, print and run; 0 when every stage succeeded (or nothing was stale)."""
    # local: dvc is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from dvc.repo import Repo

    if args.jobs < 1:
        raise ReproError(f"-j must be at least 1 (got {args.jobs})")
    root = Path(Repo.find_root())
    plan = make_plan(args.targets, root)
    if not plan.order:
        print(f"nothing to reproduce ({plan.up_to_date} stages up to date)")
        return 0
    print(
        f"{len(plan.order)} stale stages ({len(plan.changed)} changed, the rest downstream of them), "
        f"{plan.up_to_date} up to date; running up to {args.jobs} at once"
    )
    if args.dry:
        for s in plan.order:
            waits = ", ".join(sorted(plan.waits_for[s])) or "-"
            print(f"  {s}  (waits for: {waits})")
        return 0
    outcomes = schedule(
        plan.order,
        plan.waits_for,
        dvc_command,
        args.jobs,
        root / ".ethoflow" / "repro",
        child=ChildProcess(cwd=root, env=_child_env()),
    )
    msg = failure_message(outcomes, root)
    if msg:
        for o in outcomes:
            if o.status == "failed" and o.log is not None:
                sys.stderr.write(f"--- {o.stage}: last lines of {o.log}\n{tail(o.log)}\n---\n")
        sys.stderr.flush()
        raise ReproError(msg)
    ran = sum(o.status == "ran" for o in outcomes)
    print(f"done: {ran} stages ran, {len(outcomes) - ran} unchanged")
    return 0
