"""VAE: df02 and model files damaged, and vae_embed's latent set (CSV + Parquet twin per experiment)
all-or-nothing under a full disk and a kill -9. Inputs: a store from the real DAM file M014.txt."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from ethoflow.core.errors import InputError, OutputError
from tests.conftest import REPO
from tests.fixtures.logs import logged_warnings
from tests.fixtures.tiny import VAE as PARAMS
from tests.reliability.conftest import leftovers, one_error_line, run_stage_script, tree


def _embed(vae, out, **kw):
    from ethoflow.vae.embed import embed_experiments

    d, store, df02, model = vae
    return embed_experiments(model, df02, store, out, **kw)


def test_vae_embed_disk_full_midway_keeps_the_previous_latents_and_the_rerun_succeeds(vae, tmp_path, monkeypatch):
    from ethoflow.vae import embed

    out = tmp_path / "latents" / "tiny"
    _embed(vae, out)
    before = tree(out)
    assert sorted(before) == [
        "morph_latents_20170630.csv",
        "morph_latents_20170630.parquet",
        "morph_latents_20170701.csv",
        "morph_latents_20170701.parquet",
    ]
    real, calls = embed.write_latent_pair, {"n": 0}

    def full(text, csv_tmp, twin_tmp, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second experiment: the disk fills while its CSV is written
            with open(csv_tmp, "wb") as fh:
                fh.write(text.encode()[:100])
            raise OSError(errno.ENOSPC, "No space left on device", str(csv_tmp))
        return real(text, csv_tmp, twin_tmp, *a, **k)

    monkeypatch.setattr(embed, "write_latent_pair", full)
    with pytest.raises(OutputError, match=r"morph_latents_20170701\.csv: cannot write: no space left on device"):
        _embed(vae, out)
    assert tree(out) == before, "the previous latents are untouched"
    assert leftovers(out) == [], "no partial file"
    monkeypatch.setattr(embed, "write_latent_pair", real)
    _embed(vae, out)
    assert tree(out) == before and leftovers(out) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs under ``tmp_path`` (needs root; skipped elsewhere: the patched-writer case covers it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def _resize(disk, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def test_vae_embed_on_a_really_full_disk_keeps_the_previous_latents(vae, tiny_disk):
    out = tiny_disk / "tiny"
    _embed(vae, out)
    before = tree(out)
    st = os.statvfs(tiny_disk)
    _resize(tiny_disk, (st.f_blocks - st.f_bfree) * st.f_frsize + 2 * 4096)  # room for two more pages only
    with pytest.raises(OutputError, match=r"morph_latents_\d{8}\.(csv|parquet): cannot write: no space left on device"):
        _embed(vae, out)
    assert tree(out) == before and leftovers(out) == []
    _resize(tiny_disk, 1 << 20)
    _embed(vae, out)
    assert tree(out) == before and leftovers(out) == []


KILL_SCRIPT = """
import pathlib, sys, time
from ethoflow.vae import embed
marker = pathlib.Path(sys.argv[5])
real, n = embed.write_latent_pair, [0]
def slow(text, csv_tmp, twin_tmp, *a, **k):
    n[0] += 1
    if n[0] == 2:
        pathlib.Path(csv_tmp).write_bytes(text.encode()[:100])
        marker.write_text("writing")
        time.sleep(60)
    return real(text, csv_tmp, twin_tmp, *a, **k)
embed.write_latent_pair = slow
embed.embed_experiments(*sys.argv[1:5])
"""


def test_vae_embed_killed_mid_write_keeps_the_previous_latents_and_the_rerun_cleans_up(vae, tmp_path):
    d, store, df02, model = vae
    out = tmp_path / "latents" / "tiny"
    _embed(vae, out)
    before = tree(out)
    marker = tmp_path / "writing"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILL_SCRIPT), str(model), str(df02), str(store), str(out), str(marker)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), "the child never reached the write"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert {k: v for k, v in tree(out).items() if not k.startswith(".")} == before, "the real names hold the old set"
    _embed(vae, out)
    assert tree(out) == before and leftovers(out) == [], "the rerun replaced the partial files"


def test_truncated_vae_model_file_names_the_file_through_the_stage(vae, tmp_path, monkeypatch, capsys):
    import yaml

    d, store, df02, model = vae
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models/vae/tiny").mkdir(parents=True)
    (tmp_path / "models/vae/tiny/model.pt").write_bytes(model.read_bytes()[:2000])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"vae": PARAMS}))
    out = tmp_path / "latents"
    code, err = run_stage_script(
        "vae_embed",
        [
            "--model",
            "models/vae/tiny/model.pt",
            "--df02",
            str(df02),
            "--store",
            str(store),
            "--latents",
            str(out / "tiny"),
            "--plot",
            str(tmp_path / "p.png"),
        ],
        capsys,
    )
    line = one_error_line(err)
    assert code == 1 and "models/vae/tiny/model.pt: VAE model file is truncated or corrupt" in line
    assert not out.exists() and not (tmp_path / "p.png").exists()


def test_truncated_df02_is_named(vae, tmp_path):
    d, store, df02, model = vae
    bad = tmp_path / "df02.parquet"
    bad.write_bytes(df02.read_bytes()[: df02.stat().st_size // 2])
    with pytest.raises(InputError, match=r"df02\.parquet: df02 is truncated or corrupt"):
        _embed((d, store, bad, model), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_df02_without_a_needed_column_names_it(vae, tmp_path):
    d, store, df02, model = vae
    bad = tmp_path / "df02.parquet"
    pd.read_parquet(df02).drop(columns=["start_minute"]).to_parquet(bad)
    with pytest.raises(InputError, match=r"df02\.parquet: column 'start_minute' missing"):
        _embed((d, store, bad, model), tmp_path / "out")


def test_df02_pair_is_all_or_nothing(vae, tmp_path, monkeypatch):
    from ethoflow.vae.snips import write_df02

    d, store, df02, model = vae
    df = pd.read_parquet(df02)
    pq, csv = tmp_path / "df02.parquet", tmp_path / "df02.csv"
    write_df02(df, pq, csv)
    before = tree(tmp_path)

    def full(self, path, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(OutputError, match=r"df02\.csv: cannot write: no space left on device"):
        write_df02(df.head(5), pq, csv)
    assert tree(tmp_path) == before and leftovers(tmp_path) == []


def test_a_checkpoint_overriding_params_is_a_warning_naming_both_values(vae, tmp_path):
    with logged_warnings("ethoflow.checkpoint") as msgs:
        _embed(vae, tmp_path / "out", model_params={**PARAMS["model"], "latent_dim": 4})
    assert any("model.pt: the model file's latent_dim=2 overrides params vae.model.latent_dim=4" in m for m in msgs), (
        msgs
    )


@pytest.mark.parametrize(
    ("damage", "what"),
    [("chunk", "cage 'M015' cannot be read"), ("metadata", "the cage list cannot be read")],
)
def test_damaged_activity_store_is_named_by_vae_snips(vae, tmp_path, capsys, damage, what):
    import shutil

    import yaml

    d, store, df02, model = vae
    bad = tmp_path / "activity.zarr"
    shutil.copytree(store, bad)
    if damage == "chunk":  # a chunk cut in half (a copy interrupted)
        f = bad / "cages/M015/activity/c/0/0"
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    else:  # a cage's metadata overwritten
        (bad / "cages/M014/zarr.json").write_text("{broken")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"vae": PARAMS}))
    out = tmp_path / "out"
    code, err = run_stage_script(
        "vae_snips",
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--store",
            str(bad),
            "--out",
            str(out / "df02.parquet"),
            "--csv",
            str(out / "df02.csv"),
            "--summary",
            str(out / "summary.json"),
        ],
        capsys,
    )
    line = one_error_line(err)
    assert code == 1 and f"{bad}: damaged activity store: {what}" in line and "rerun hbehave_zarr" in line
    assert not out.exists()
