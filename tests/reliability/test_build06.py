"""build06 through the ``ethoflow build06`` command: damaged latent files and df02 (today's behaviour;
the all-or-nothing df03 set and ``allow_partial`` are the build06 pipeline's, see docs/reliability.md)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from ethoflow.cli import main as cli
from tests.reliability.conftest import one_error_line, run_subprocess


@pytest.fixture(scope="module")
def latents(vae, tmp_path_factory):
    from ethoflow.vae.embed import embed_experiments

    d, store, df02, model = vae
    root = tmp_path_factory.mktemp("b06") / "latents"
    embed_experiments(model, df02, store, root / "tiny")
    return root


@pytest.fixture
def work(tmp_path, latents, vae):
    import shutil

    shutil.copytree(latents, tmp_path / "latents")
    shutil.copy(vae[2], tmp_path / "df02.parquet")
    return tmp_path


def _args(w, df02="df02.parquet"):
    return [
        "build06",
        "--params",
        str(w / "none.yaml"),
        "--df02",
        str(w / df02),
        "--latents-root",
        str(w / "latents"),
        "--model-name",
        "tiny",
        "--out",
        str(w / "out/df03.parquet"),
    ]


def _run(w, capsys, **kw):
    capsys.readouterr()
    code = cli(_args(w, **kw))
    return code, capsys.readouterr().err


def test_truncated_latent_csv_names_the_file_through_the_command(work):
    f = work / "latents/tiny/morph_latents_20170701.csv"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    res = run_subprocess([sys.executable, "-m", "ethoflow.cli", *_args(work)], cwd=work)
    assert res.returncode == 1
    assert "morph_latents_20170701.csv: cannot read latents" in one_error_line(res.stderr)
    assert not (work / "out").exists()


def test_non_numeric_latent_value_names_the_file_and_the_value(work, capsys):
    f = work / "latents/tiny/morph_latents_20170630.csv"
    lines = f.read_text().splitlines()
    cells = lines[2].split(",")
    cells[1] = "abc"
    lines[2] = ",".join(cells)
    f.write_text("\n".join(lines) + "\n")
    code, err = _run(work, capsys)
    line = one_error_line(err)
    assert code == 1 and "morph_latents_20170630.csv" in line and "'abc'" in line and not (work / "out").exists()


def test_duplicated_latent_row_names_the_snip_and_the_file(work, capsys):
    f = work / "latents/tiny/morph_latents_20170630.csv"
    lines = f.read_text().splitlines()
    f.write_text("\n".join([*lines, lines[3]]) + "\n")
    code, err = _run(work, capsys)
    line = one_error_line(err)
    assert code == 1 and "duplicated snip_id" in line and "morph_latents_20170630.csv" in line
    assert not (work / "out").exists()


def test_blank_snip_id_in_df02_names_the_rows(work, capsys):
    df = pd.read_parquet(work / "df02.parquet")
    df.loc[[2, 5], "snip_id"] = ""
    df.to_parquet(work / "df02b.parquet")
    code, err = _run(work, capsys, df02="df02b.parquet")
    line = one_error_line(err)
    assert code == 1 and "df02b.parquet: empty snip_id in 2 row(s)" in line and "rows 3, 6" in line


def test_truncated_df02_is_named(work, capsys):
    b = (work / "df02.parquet").read_bytes()
    (work / "df02c.parquet").write_bytes(b[: len(b) // 2])
    code, err = _run(work, capsys, df02="df02c.parquet")
    assert code == 1 and "df02c.parquet: cannot read df02" in one_error_line(err)


def test_a_rerun_without_overwrite_is_refused_naming_the_files_and_keeps_them(work, capsys):
    assert _run(work, capsys)[0] == 0
    before = (work / "out/df03.parquet").read_bytes()
    code, err = _run(work, capsys)
    assert code == 1 and "refusing to overwrite" in one_error_line(err) and "df03.parquet" in err
    assert (work / "out/df03.parquet").read_bytes() == before
