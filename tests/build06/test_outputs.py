"""build06's output set is all-or-nothing (disk full, kill -9), the stage exits non-zero on missing
latents unless allow_partial, and the sidecar is one validated record."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ethoflow.build06 import Build06Params, Df03Paths, RunOptions, build_df03_with_embeddings, read_sidecar
from ethoflow.core.errors import InputError, OutputError
from tests.build06.test_merge import df02_frame, write_latents

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def full(tmp_path):
    """df02 of three experiments, each with its latent file."""
    df = df02_frame()
    df.to_csv(tmp_path / "df02.csv", index=False)
    for exp in ("e1", "e2", "e3"):
        write_latents(tmp_path / "latents" / "m1", exp, df.snip_id[df.experiment_date == exp])
    return tmp_path


def run(tmp, overwrite=False, **cfg):
    return build_df03_with_embeddings(
        Build06Params(**cfg),
        df02=tmp / "df02.csv",
        latents_dir=tmp / "latents" / "m1",
        model_name="m1",
        out=Df03Paths.beside(tmp / "out" / "df03.parquet"),
        analysis_dir=tmp / "analysis",
        options=RunOptions(overwrite=overwrite),
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_disk_full_mid_write_keeps_previous_outputs_and_leaves_no_partial_file(full, monkeypatch):
    run(full)
    before = snapshot(full)
    import ethoflow.build06.export as export

    def full_disk(table, path):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export, "write_csv", full_disk)
    with pytest.raises(OutputError, match=r"df03\.csv: cannot write: no space left on device"):
        run(full, overwrite=True, z_dtype="float64")
    assert snapshot(full) == before, "previous outputs untouched, no new or partial file"
    monkeypatch.undo()
    run(full, overwrite=True, z_dtype="float64")  # the rerun succeeds
    assert snapshot(full) != before


def test_disk_full_on_a_first_run_never_blocks_the_rerun(full, monkeypatch):
    import ethoflow.build06.export as export

    def full_disk(table, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export, "write_parquet", full_disk)
    with pytest.raises(OutputError, match="no space left"):
        run(full)
    assert not (full / "out").exists() or list((full / "out").iterdir()) == []
    monkeypatch.undo()
    res = run(full)  # without overwrite: nothing of the failed run is in the way
    assert res.coverage["overall"]["coverage"] == 1.0


KILLED_RUN = """
import sys, time
from pathlib import Path
import ethoflow.build06.export as export
from ethoflow.build06 import Build06Params, Df03Paths, RunOptions, build_df03_with_embeddings

tmp = Path(sys.argv[1])
real = export.write_csv
def slow_csv(table, path):
    real(table, path)
    print("writing", flush=True)
    time.sleep(60)
export.write_csv = slow_csv
build_df03_with_embeddings(
    Build06Params(z_dtype=sys.argv[2]), df02=tmp / "df02.csv", latents_dir=tmp / "latents" / "m1",
    model_name="m1", out=Df03Paths.beside(tmp / "out" / "df03.parquet"), analysis_dir=tmp / "analysis",
    options=RunOptions(overwrite=sys.argv[3] == "1"),
)
"""


def kill_mid_write(tmp: Path, dtype: str, overwrite: bool) -> None:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_RUN), str(tmp), dtype, "1" if overwrite else "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_kill_9_while_writing_leaves_previous_outputs_and_the_rerun_succeeds(full):
    kill_mid_write(full, "float32", overwrite=False)  # first run killed: nothing under a real name
    assert not [p for p in (full / "out").iterdir() if not p.name.startswith(".")]
    run(full)  # no overwrite needed: the killed run left nothing in the way
    before = {k: v for k, v in snapshot(full).items() if "/." not in f"/{k}"}
    kill_mid_write(full, "float64", overwrite=True)  # a rerun killed while writing
    assert {k: v for k, v in snapshot(full).items() if "/." not in f"/{k}"} == before
    run(full, overwrite=True, z_dtype="float64")
    assert [p.name for p in (full / "out").iterdir() if p.name.startswith(".")] == []


def stage(tmp: Path, params: str) -> subprocess.CompletedProcess:
    (tmp / "params.yaml").write_text(params)
    out = tmp / "processed"
    cmd = [
        sys.executable,
        str(REPO / "stages" / "build06.py"),
        "--params",
        str(tmp / "params.yaml"),
        *("--df02", str(tmp / "df02.csv"), "--latents", str(tmp / "latents" / "m1"), "--model-name", "m1"),
        *("--out", str(out / "df03.parquet"), "--csv", str(out / "df03.csv")),
        *("--sidecar", str(out / "df03.json"), "--coverage", str(out / "df03_coverage.json")),
        *("--metrics", str(tmp / "metrics" / "build06.json")),
    ]
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, check=False)


def test_stage_exits_non_zero_on_a_missing_latent_file_unless_allow_partial(full):
    (full / "latents" / "m1" / "morph_latents_e2.csv").unlink()
    res = stage(full, "build06: {}\n")
    assert res.returncode == 1
    assert "morph_latents_e2.csv" in res.stderr and "allow_partial" in res.stderr and "Traceback" not in res.stderr
    assert not (full / "processed").exists()
    res = stage(full, "build06:\n  allow_partial: true\n")
    assert res.returncode == 0, res.stderr
    cov = json.loads((full / "processed" / "df03_coverage.json").read_text())
    assert cov["missing_latent_files"] == 1 and cov["per_experiment"]["e2"]["latent_file"] is None
    assert json.loads((full / "metrics" / "build06.json").read_text()) == {"coverage": round(5 / 7, 6), "rows": 7}
    side = read_sidecar(full / "processed" / "df03.json")
    assert side.missing_latent_files == 1 and side.git_commit is None and "timestamp" not in side.model_fields_set


def test_old_path_keys_in_the_params_section_name_where_paths_went(full):
    res = stage(full, "build06:\n  out: x.parquet\n")
    assert res.returncode == 1 and "build06.out: unknown key (paths are cmd arguments in dvc.yaml" in res.stderr


def test_sidecar_is_validated_on_read_naming_file_and_key(full):
    run(full)
    path = full / "out" / "df03.json"
    side = read_sidecar(path)
    assert side.model_name == "m1" and side.coverage.coverage == 1.0 and side.missing_latent_files == 0
    data = json.loads(path.read_text())
    data["coverage"]["n_rows"] = "many"
    del data["z_columns"]
    data["colour"] = "blue"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as ei:
        read_sidecar(path)
    msg = str(ei.value)
    assert f"{path}: df03 sidecar key coverage.n_rows: Input should be a valid integer" in msg
    assert f"{path}: df03 sidecar key z_columns: Field required" in msg
    assert f"{path}: df03 sidecar key colour: unknown key" in msg
