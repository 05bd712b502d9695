"""``ethoflow repro -j 2`` on the local Slurm cluster: two variants train as concurrent jobs, the results
equal a serial in-process ``dvc repro``, and a failing variant stops new stages but keeps finished work.

Two copies of the tiny acoustic project (variants v1 and v2, one prediction setting) run at the same
time: one with ``ethoflow repro -j 2 acoustic_report`` and every stage's job on Slurm (1 CPU, 2 GB,
10 minutes), one with plain ``dvc repro acoustic_report`` in-process. torch runs on one thread in
both (``OMP_NUM_THREADS=1`` and ``num_threads: 1``), so the outputs are byte-identical.
"""

from __future__ import annotations

import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.fixtures.tiny import DVC_ACOUSTIC
from tests.integration.dvcproject import BIN, _env, copy_project, git, set_params

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

VARIANTS = ("v1", "v2")
JOB = {"gpus": 0, "cpus": 1, "mem_gb": 2, "timeout_min": 10}
DISPATCHED = (
    "acoustic_train",
    "acoustic_predict",
    "acoustic_evaluate",
    "acoustic_rf_train",
    "acoustic_rf_filter",
    "acoustic_report",
)
#: submitit's own log lines in a job's stdout: "submitit INFO (2026-12-01 00:40:00,123) - Starting with ..."
_SUBMITIT = re.compile(
    r"submitit INFO \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\) - (Starting with|Job completed successfully)"
)


def _project(tmp: Path) -> Path:
    """The tiny acoustic project with two variants (v2 = v1 with another seed), one setting, small jobs."""
    proj = copy_project(tmp, DVC_ACOUSTIC)
    p = yaml.safe_load((proj / "params.yaml").read_text())
    a = p["acoustic"]
    v1 = a["variants"]["v1"]
    a["variants"] = {"v1": v1, "v2": {**v1, "seed": int(v1.get("seed", 0)) + 1}}
    a["predict"]["settings"] = {"default": a["predict"]["settings"]["default"]}
    p["compute"]["default"] = {**p["compute"]["default"], **JOB}
    p["compute"]["stages"] = {s: dict(JOB) for s in DISPATCHED}
    (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    git(proj, "commit", "-q", "-am", "two variants, one setting, small jobs")
    return proj


def _env_for(proj: Path, executor: str) -> dict[str, str]:
    env = _env(proj)
    env["ETHOFLOW_EXECUTOR"] = executor
    env["OMP_NUM_THREADS"] = "1"
    return env


def _start(proj: Path, executor: str, *cmd: str) -> subprocess.Popen:
    """Start ``cmd`` (a program of this environment) in ``proj``; stdout/stderr go to files beside it."""
    out, err = (open(proj.parent / f"{cmd[0]}.{k}", "w") for k in ("out", "err"))  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / cmd[0]), *cmd[1:]], cwd=proj, env=_env_for(proj, executor), stdout=out, stderr=err, text=True
    )
    proc.files = (out, err)  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen, timeout: float = 1500) -> subprocess.CompletedProcess:
    """Wait for ``proc``; its exit status and output."""
    proc.wait(timeout=timeout)
    for f in proc.files:  # type: ignore[attr-defined]
        f.close()
    out, err = (Path(f.name).read_text() for f in proc.files)  # type: ignore[attr-defined]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def lock_outs(proj: Path) -> dict[str, dict[str, str]]:
    """``{stage: {out path: md5}}`` from ``dvc.lock``."""
    stages = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]
    return {name: {o["path"]: o["md5"] for o in st.get("outs", [])} for name, st in stages.items()}


def job_span(proj: Path, stage: str) -> tuple[datetime, datetime]:
    """Start and end of the stage's (single) Slurm job, from submitit's lines in the job's own log."""
    logs = sorted((proj / ".ethoflow" / "jobs" / stage.replace("@", "_")).glob("*/*_log.out"))
    assert len(logs) == 1, f"{stage}: expected one job log, found {logs}"
    found = dict((kind, ts) for ts, kind in _SUBMITIT.findall(logs[0].read_text()))
    assert set(found) == {"Starting with", "Job completed successfully"}, logs[0].read_text()[-2000:]
    start, end = (
        datetime.strptime(found[k], "%Y-%m-%d %H:%M:%S,%f") for k in ("Starting with", "Job completed successfully")
    )
    return start, end


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both copies run at the same time: ``ethoflow repro -j 2`` on Slurm and ``dvc repro`` in-process."""
    par = _project(tmp_path_factory.mktemp("repro_parallel"))
    ser = _project(tmp_path_factory.mktemp("repro_serial"))
    t0 = time.monotonic()
    p_par = _start(par, "slurm", "ethoflow", "repro", "-j", "2", "acoustic_report")
    p_ser = _start(ser, "local", "dvc", "repro", "acoustic_report")
    res_ser = _finish(p_ser)
    t_ser = time.monotonic() - t0
    res_par = _finish(p_par)
    t_par = time.monotonic() - t0
    assert res_ser.returncode == 0, res_ser.stdout + res_ser.stderr
    assert res_par.returncode == 0, res_par.stdout + res_par.stderr
    print(
        f"\nserial in-process dvc repro: {t_ser:.0f}s; ethoflow repro -j 2 on Slurm: {t_par:.0f}s "
        f"(run side by side)\n{res_par.stdout}"
    )
    return {"par": par, "ser": ser, "res_par": res_par, "outs_par": lock_outs(par), "outs_ser": lock_outs(ser)}


def test_variants_train_as_overlapping_jobs_and_match_serial(runs):
    par = runs["par"]
    spans = {v: job_span(par, f"acoustic_train@{v}") for v in VARIANTS}
    for v, (s, e) in spans.items():
        print(f"acoustic_train@{v} job: {s:%H:%M:%S.%f} -> {e:%H:%M:%S.%f}")
    (s1, e1), (s2, e2) = spans["v1"], spans["v2"]
    assert s1 < e2 and s2 < e1, f"training jobs did not overlap: {spans}"
    # every dispatched stage ran as a Slurm job
    for st in [f"acoustic_train@{v}" for v in VARIANTS] + ["acoustic_report"]:
        assert list((par / ".ethoflow" / "jobs" / st.replace("@", "_")).glob("*/*_log.out")), st
    assert (par / ".ethoflow" / "repro" / "acoustic_train@v2.log").exists()
    outs_par, outs_ser = runs["outs_par"], runs["outs_ser"]
    assert {f"acoustic_train@{v}" for v in VARIANTS} | {"acoustic_report"} <= set(outs_par)
    assert outs_par == outs_ser


def test_failing_variant_stops_new_stages_and_keeps_the_other(runs):
    """v2's training job fails at run time (a corrupt resume checkpoint, which only train@v2 reads);
    v1's training, started at the same time, still finishes and is recorded in dvc.lock."""
    proj = runs["ser"]  # complete and already compared: retrain both variants with one epoch
    before = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]
    set_params(proj, {"acoustic": {"train": {"epochs": 1}}})
    # a corrupt last.ckpt stamped with this run's fingerprint, so train@v2 really tries to resume from it
    from ethoflow.acoustic.params import AcousticParams
    from ethoflow.acoustic.training.train import fingerprint
    from ethoflow.core import load_section

    cfg = load_section("acoustic", AcousticParams, str(proj / "params.yaml"))
    vdir = proj / "data" / "interim" / "acoustic" / "variants" / "v2"
    stamp = fingerprint(
        vdir, cfg.variant_features("v2", str(proj / "params.yaml")), cfg.variant_train("v2", str(proj / "params.yaml"))
    )
    ck = proj / ".ethoflow" / "checkpoints" / "acoustic_train" / "v2"
    ck.mkdir(parents=True, exist_ok=True)
    (ck / "last.ckpt").write_bytes(b"not a torch checkpoint")
    (ck / "fingerprint.txt").write_text(stamp)
    t0 = time.monotonic()
    res = _finish(_start(proj, "slurm", "ethoflow", "repro", "-j", "2", "acoustic_report"))
    print(f"\nfailing run: {time.monotonic() - t0:.0f}s\n{res.stdout}\n{res.stderr[-1500:]}")
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert re.search(
        r"stage failed: acoustic_train@v2 \(exit \d+, Slurm job \d+; log \.ethoflow/repro/acoustic_train@v2\.log\)",
        last,
    ), last
    after = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]
    train = {v: after[f"acoustic_train@{v}"]["params"]["params.yaml"]["acoustic.train"]["epochs"] for v in VARIANTS}
    assert train == {"v1": 1, "v2": 2}, "v1 recorded with the new params, v2 untouched"
    # v1 was retrained: its summary records 1 epoch run instead of 2 (the weights may coincide: the best
    # epoch of the 2-epoch run can be the first)
    summary = next(o for o in after["acoustic_train@v1"]["outs"] if o["path"].endswith("train_summary.json"))
    old = next(o for o in before["acoustic_train@v1"]["outs"] if o["path"].endswith("train_summary.json"))
    assert summary["md5"] != old["md5"]
    # Nothing starts once the failure is seen; what was already running finishes and is recorded. Whether
    # v1's predict started before v2 failed depends on timing (v1 may finish first), so check the order.
    lines = res.stdout.splitlines()
    failed_at = next(i for i, line in enumerate(lines) if "FAILED   acoustic_train@v2" in line)
    assert not [line for line in lines[failed_at + 1 :] if "started" in line], "nothing starts after the failure"
    started = {m.group(1) for m in re.finditer(r"started  (\S+)", res.stdout)}
    ended = {m.group(1) for m in re.finditer(r"(?:finished|FAILED)\s+(\S+)", res.stdout)}
    assert started == ended, "every started stage ran to its end"
    assert not {s for s in started if "v2" in s} - {"acoustic_train@v2"} and "acoustic_report" not in started
    if "acoustic_predict@v1-default" not in started:
        assert after["acoustic_predict@v1-default"] == before["acoustic_predict@v1-default"]
