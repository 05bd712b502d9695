"""build06 on hand-made df02 / latent tables: coverage, checks, stems, schemas, safety, outputs."""

import json
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ethoflow.build06 import (
    Build06Params,
    Df03Paths,
    RunOptions,
    TrainJoin,
    build_df03_with_embeddings,
    normalise_snip_ids,
)
from ethoflow.core.errors import InputError, OverwriteError


def df02_frame():
    rows = [
        ("e1", "c1", 0),
        ("e1", "c1", 1),
        ("e1", "c2", 0),
        ("e2", "c1", 0),
        ("e2", "c1", 1),
        ("e3", "c9", 0),
        ("e3", "c9", 1),
    ]
    return pd.DataFrame(
        {
            "experiment_date": [r[0] for r in rows],
            "cage_id": [r[1] for r in rows],
            "snip_id": [f"{e}_{c}_t{t:04d}" for e, c, t in rows],
            "time_int": [r[2] for r in rows],
            "strain": ["B6"] * 7,
        }
    )


def z_of(snip_id, k=3):
    h = sum(map(ord, snip_id))
    return [round(h / 100.0 + i, 3) for i in range(k)]


def write_latents(folder, exp, ids, cols=None, k=3):
    cols = cols or [f"z_mu_{i:02d}" for i in range(k)]
    folder.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame([[s, *z_of(s, len(cols))] for s in ids], columns=["snip_id", *cols])
    path = folder / f"morph_latents_{exp}.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path):
    df = df02_frame()
    df.to_csv(tmp_path / "df02.csv", index=False)
    lat = tmp_path / "latents" / "m1"
    write_latents(lat, "e1", df.snip_id[:3])
    write_latents(lat, "e2", df.snip_id[3:4])  # partial: one of two
    # e3: no file
    return tmp_path


def cfg_for(tmp, **kw):
    """(params, paths) of a run on the `project` layout; path keywords go to the paths."""
    paths = dict(
        df02=tmp / "df02.csv",
        latents_dir=tmp / "latents" / "m1",
        model_name="m1",
        out=Df03Paths.beside(tmp / "out" / "df03.parquet"),
    )
    for k in ("analysis_dir", "train", "out", "df02"):
        if k in kw:
            paths[k] = kw.pop(k)
    options = {k: kw.pop(k) for k in ("overwrite", "dry_run", "provenance") if k in kw}
    paths["options"] = RunOptions(**options)
    kw.setdefault("allow_partial", True)
    return Build06Params(**kw), paths


def run_build06(spec):
    cfg, paths = spec
    return build_df03_with_embeddings(cfg, **paths)


def test_full_coverage_one_experiment(project):
    res = run_build06(cfg_for(project, experiments=["e1"]))
    df03 = pd.read_parquet(project / "out" / "df03.parquet")
    assert df03.snip_id.tolist() == ["e1_c1_t0000", "e1_c1_t0001", "e1_c2_t0000"]
    np.testing.assert_allclose(
        df03[["z_mu_00", "z_mu_01", "z_mu_02"]].to_numpy(), [z_of(s) for s in df03.snip_id], rtol=1e-6
    )
    assert df03.z_mu_00.dtype == np.float32  # default z_dtype
    run_build06(cfg_for(project, experiments=["e1"], z_dtype="float64", overwrite=True))
    df64 = pd.read_parquet(project / "out" / "df03.parquet")
    assert df64[["z_mu_00", "z_mu_01", "z_mu_02"]].to_numpy().tolist() == [z_of(s) for s in df64.snip_id]
    assert res.coverage["overall"] == {"n_rows": 3, "n_with_latents": 3, "coverage": 1.0}
    cov = json.loads((project / "out" / "df03_coverage.json").read_text())
    assert cov["per_experiment"]["e1"]["coverage"] == 1.0 and cov["below_threshold"] == []
    csv = pd.read_csv(project / "out" / "df03.csv")
    np.testing.assert_allclose(csv[["z_mu_00", "z_mu_01", "z_mu_02"]], df03[["z_mu_00", "z_mu_01", "z_mu_02"]])


def test_missing_latent_file_is_an_error_unless_allow_partial(project):
    """issue #14 item 4: an experiment without a latent file is not merged silently."""
    with pytest.raises(InputError) as ei:
        run_build06(cfg_for(project, allow_partial=False))
    msg = str(ei.value)
    assert "no latent file for 1 experiment(s) ['e3']" in msg and "morph_latents_e3.csv" in msg
    assert "allow_partial" in msg and not (project / "out").exists()


def test_partial_and_missing_experiment_warn_and_continue_with_allow_partial(project, caplog):
    with caplog.at_level(logging.WARNING):
        res = run_build06(cfg_for(project))
    df03 = pd.read_parquet(project / "out" / "df03.parquet")
    assert len(df03) == 7 and df03.snip_id.tolist() == df02_frame().snip_id.tolist()  # left join keeps order
    assert df03.z_mu_00.isna().tolist() == [False, False, False, False, True, True, True]
    per = res.coverage["per_experiment"]
    assert per["e1"]["coverage"] == 1.0
    assert per["e2"]["coverage"] == 0.5
    assert per["e3"] == {"n_rows": 2, "n_with_latents": 0, "coverage": 0.0, "latent_file": None}
    assert res.coverage["overall"]["coverage"] == pytest.approx(4 / 7)
    assert res.coverage["below_threshold"] == ["e2", "e3"] and res.coverage["missing_latent_files"] == 1
    text = caplog.text
    assert "no latents for experiment e3" in text and "below 95%" in text and "experiment e2: coverage 50.0%" in text


def test_unknown_explicit_experiment(project):
    with pytest.raises(InputError, match=r"experiment\(s\) \['e7'\] have no rows"):
        run_build06(cfg_for(project, experiments=["e1", "e7"]))


def test_duplicate_snip_id_is_an_error(project):
    lat = project / "latents" / "m1"
    write_latents(lat, "e3", ["e3_c9_t0000", "e1_c1_t0001"])  # e1_c1_t0001 is already in e1's file
    with pytest.raises(
        InputError,
        match=r"duplicated snip_id in latents.*'e1_c1_t0001' in .*morph_latents_e1.csv, .*morph_latents_e3.csv",
    ):
        run_build06(cfg_for(project))
    assert not (project / "out" / "df03.parquet").exists()
    write_latents(lat, "e3", ["e3_c9_t0000", "e3_c9_t0000"])  # within one file
    with pytest.raises(InputError, match="duplicated snip_id"):
        run_build06(cfg_for(project))


def test_duplicate_snip_id_in_df02_is_an_error(project):
    df = df02_frame()
    pd.concat([df, df.iloc[[0]]]).to_csv(project / "df02.csv", index=False)
    with pytest.raises(InputError, match=r"duplicated snip_id in df02.*e1_c1_t0000"):
        run_build06(cfg_for(project))


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", ""])
def test_non_finite_z_is_an_error(project, bad):
    path = project / "latents" / "m1" / "morph_latents_e2.csv"
    path.write_text(f"snip_id,z_mu_00,z_mu_01,z_mu_02\ne2_c1_t0000,1.0,{bad},2.0\n")
    with pytest.raises(
        InputError, match=r"morph_latents_e2.csv: non-finite z value in column z_mu_01 for snip_id 'e2_c1_t0000'"
    ):
        run_build06(cfg_for(project))
    assert not (project / "out").exists()


def test_stem_normalisation(project):
    assert normalise_snip_ids(pa.array(["a_b_s0012", "a_b_t0012", "x_s12", "s0001_y", "a_s00012"])).to_pylist() == [
        "a_b_t0012",
        "a_b_t0012",
        "x_s12",
        "s0001_y",
        "a_t00012",
    ]
    lat = project / "latents" / "m1"
    write_latents(lat, "e2", ["e2_c1_s0000", "e2_c1_s0001"])  # legacy _s#### stems
    res = run_build06(cfg_for(project, experiments=["e2"]))
    assert res.coverage["overall"]["coverage"] == 1.0
    df03 = pd.read_parquet(project / "out" / "df03.parquet")
    assert df03.snip_id.tolist() == ["e2_c1_t0000", "e2_c1_t0001"]  # df02's ids are kept
    assert df03.z_mu_00.tolist() == pytest.approx([z_of("e2_c1_s0000")[0], z_of("e2_c1_s0001")[0]], rel=1e-6)


def test_schema_policies(tmp_path):
    df = df02_frame().iloc[:3]
    df.to_csv(tmp_path / "df02.csv", index=False)
    bn = ["z_mu_b_00", "z_mu_b_01", "z_mu_n_00"]
    write_latents(tmp_path / "latents" / "m1", "e1", df.snip_id, cols=bn)
    res = run_build06(cfg_for(tmp_path, z_schema="auto"))
    assert res.z_columns == bn
    res = run_build06(cfg_for(tmp_path, z_schema="bio_nuisance", overwrite=True))
    assert list(pq.read_schema(tmp_path / "out" / "df03.parquet").names[-3:]) == bn
    with pytest.raises(InputError, match="z_schema 'flat' needs z_mu_XX"):
        run_build06(cfg_for(tmp_path, z_schema="flat", overwrite=True))
    write_latents(tmp_path / "latents" / "m1", "e1", df.snip_id, cols=["z_mu_b_00", "z_mu_b_01"])
    with pytest.raises(InputError, match="bio_nuisance' needs z_mu_b_XX and z_mu_n_XX"):
        run_build06(cfg_for(tmp_path, z_schema="bio_nuisance", overwrite=True))


def test_bio_nuisance_falls_back_to_flat_columns_when_asked(tmp_path, caplog):
    """As morphseq's Build06 design, but only when asked (``bio_nuisance_or_flat``): a store with no
    bio/nuisance columns is merged by its flat z_mu_XX, with a warning."""
    df = df02_frame().iloc[:3]
    df.to_csv(tmp_path / "df02.csv", index=False)
    write_latents(tmp_path / "latents" / "m1", "e1", df.snip_id, cols=["z_mu_00", "z_mu_01"])
    with caplog.at_level(logging.WARNING):
        res = run_build06(cfg_for(tmp_path, z_schema="bio_nuisance_or_flat"))
    assert res.z_columns == ["z_mu_00", "z_mu_01"] and res.coverage["overall"]["coverage"] == 1.0
    assert "no z_mu_b_XX/z_mu_n_XX columns; z_schema bio_nuisance_or_flat uses its 2 flat z_mu_XX" in caplog.text


def test_dry_run_writes_nothing(project):
    before = sorted(p for p in project.rglob("*"))
    res = run_build06(cfg_for(project, dry_run=True, analysis_dir=project / "analysis"))
    assert sorted(p for p in project.rglob("*")) == before
    assert res.dry_run and str(project / "df02.csv") in res.reads
    assert str(project / "out" / "df03.parquet") in res.writes
    assert str(project / "analysis" / "df03_e3.csv") in res.writes
    assert res.latent_files["e3"] is None


def test_overwrite_protection(project):
    run_build06(cfg_for(project, analysis_dir=project / "analysis"))
    stamp = (project / "out" / "df03.parquet").stat().st_mtime_ns
    with pytest.raises(OverwriteError, match="df03.parquet"):
        run_build06(cfg_for(project))
    assert (project / "out" / "df03.parquet").stat().st_mtime_ns == stamp
    with pytest.raises(OverwriteError, match=r"df03_e1.csv"):
        run_build06(cfg_for(project, analysis_dir=project / "analysis", out=Df03Paths.beside(project / "o2.parquet")))
    run_build06(cfg_for(project, analysis_dir=project / "analysis", overwrite=True))
    assert (project / "out" / "df03.parquet").stat().st_mtime_ns != stamp


def test_dvc_stage_outputs_are_byte_identical_across_runs(project):
    """Under DVC the sidecar carries no commit or timestamp (dvc.lock is the provenance), so a rerun
    rewrites every output byte for byte."""
    run_build06(cfg_for(project, overwrite=True, provenance=False))
    first = {p.name: p.read_bytes() for p in (project / "out").iterdir()}
    assert "timestamp" not in json.loads(first["df03.json"]) and "git_commit" not in json.loads(first["df03.json"])
    run_build06(cfg_for(project, overwrite=True, provenance=False))
    assert {p.name: p.read_bytes() for p in (project / "out").iterdir()} == first


def test_analysis_copies_sidecar_and_training_join(project):
    pd.DataFrame({"snip_id": ["e1_c1_s0000", "e2_c1_t0001"], "split": ["train", "test"]}).to_csv(
        project / "train.csv", index=False
    )
    train = TrainJoin(metadata=project / "train.csv", out=project / "tr" / "embryo_metadata_with_embeddings.csv")
    run_build06(cfg_for(project, analysis_dir=project / "analysis", train=train))
    e2 = pd.read_csv(project / "analysis" / "df03_e2.csv")
    assert e2.snip_id.tolist() == ["e2_c1_t0000", "e2_c1_t0001"]
    assert sorted(p.name for p in (project / "analysis").iterdir()) == ["df03_e1.csv", "df03_e2.csv", "df03_e3.csv"]
    joined = pd.read_csv(train.out)
    assert joined.snip_id.tolist() == ["e1_c1_s0000", "e2_c1_t0001"] and joined.split.tolist() == ["train", "test"]
    assert joined.z_mu_00[0] == pytest.approx(z_of("e1_c1_t0000")[0], rel=1e-6)  # stem normalised
    assert np.isnan(joined.z_mu_00[1])  # e2_c1_t0001 has no latent
    side = json.loads((project / "out" / "df03.json").read_text())
    assert side["model_name"] == "m1"
    assert side["latent_store"] == str(project / "latents" / "m1")
    assert side["coverage"]["coverage"] == pytest.approx(4 / 7)
    assert side["missing_latent_files"] == 1 and side["params"]["allow_partial"] is True
    assert "git_commit" in side and side["timestamp"].endswith("+00:00")


def test_df02_csv_whose_column_changes_type_late(tmp_path):
    n = 30_000  # the last row changes the column's type
    df = pd.DataFrame(
        {
            "experiment_date": ["e1"] * n,
            "snip_id": [f"e1_c_t{i:05d}" for i in range(n)],
            "note": [1] * (n - 1) + ["text"],
        }
    )
    df.to_csv(tmp_path / "df02.csv", index=False)
    write_latents(tmp_path / "latents" / "m1", "e1", df.snip_id[:10])
    res = run_build06(cfg_for(tmp_path))
    assert res.n_rows == n and res.coverage["overall"]["n_with_latents"] == 10


@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_snip_id_in_df02_is_an_error_naming_rows(project, blank):
    """issue #14 item 4: an empty snip_id cell in df02 would silently get no latents."""
    df = df02_frame()
    df.loc[[1, 4], "snip_id"] = blank
    df.to_csv(project / "df02.csv", index=False)
    with pytest.raises(InputError) as ei:
        run_build06(cfg_for(project))
    msg = str(ei.value)
    assert "df02.csv" in msg and "empty snip_id in 2 row(s)" in msg and "data rows 2, 5" in msg
    assert not (project / "out").exists()


def test_unmatched_latents_are_counted_and_warned(project, caplog):
    """issue #14 item 4: latents whose snip_id is in no df02 row are counted in the coverage report."""
    lat = project / "latents" / "m1"
    write_latents(lat, "e2", ["e2_c1_t0000", "e2_c7_t0003", "e2_c7_t0004"])  # two ids df02 does not have
    with caplog.at_level(logging.WARNING):
        res = run_build06(cfg_for(project))
    assert res.coverage["unmatched_latents"] == 2
    assert res.coverage["unmatched_latent_examples"] == ["e2_c7_t0003", "e2_c7_t0004"]
    cov = json.loads((project / "out" / "df03_coverage.json").read_text())
    assert cov["unmatched_latents"] == 2
    assert "2 latent row(s) have a snip_id in no df02 row" in caplog.text and "e2_c7_t0003" in caplog.text
    # a latent of an experiment that is not merged is still "in df02": not counted
    run_build06(cfg_for(project, experiments=["e1"], overwrite=True))
    assert json.loads((project / "out" / "df03_coverage.json").read_text())["unmatched_latents"] == 0
