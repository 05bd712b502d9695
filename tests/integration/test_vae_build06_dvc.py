"""vae_snips -> vae_train -> vae_embed -> build06 under `dvc repro`: demo data and the real DAM file."""

import json

import pandas as pd
import pytest

from tests.fixtures.dvc import clone_project
from tests.fixtures.tiny import DVC_VAE
from tests.integration.dvcproject import copy_project, dvc, ran_stages, set_params

pytestmark = pytest.mark.integration

TINY_VAE = DVC_VAE["vae"]
CHAIN = {"vae_snips", "vae_train", "vae_embed", "build06"}


def check_df03(proj, n_lat):
    df02 = pd.read_parquet(proj / "data/processed/vae/df02.parquet")
    df03 = pd.read_parquet(proj / "data/processed/df03.parquet")
    cov = json.loads((proj / "data/processed/df03_coverage.json").read_text())
    assert cov["overall"]["coverage"] == 1.0 and cov["overall"]["n_rows"] == len(df02) > 0
    assert df03.snip_id.tolist() == df02.snip_id.tolist()
    zc = [c for c in df03.columns if c.startswith("z_mu_")]
    assert len(zc) == n_lat and df03[zc].notna().all().all()
    side = json.loads((proj / "data/processed/df03.json").read_text())
    assert side["model_name"] == "vae_tiny" and side["latent_store"] == "data/processed/latents/vae_tiny"
    assert (proj / "models/vae/vae_tiny/model.pt").exists()
    live = json.loads((proj / "reports/vae/train_live/metrics.json").read_text())
    assert "kl_dim" in live["train"]
    return df02, df03


def test_demo_repro_build06_full_coverage(vae_chain_project, tmp_path):
    """The session's tiny project (its first repro ran the whole chain; a second repro running nothing is
    tests/integration/test_dvc_behaviour.py::test_second_repro_runs_nothing)."""
    proj = clone_project(vae_chain_project, tmp_path)
    check_df03(proj, 4)
    # determinism: retraining and re-embedding give byte-identical outs, so build06 stays up to date
    lock = (proj / "dvc.lock").read_text()
    for st in ("vae_snips", "vae_train", "vae_embed"):
        dvc(proj, "repro", "-f", "-s", st)
    assert (proj / "dvc.lock").read_text() == lock
    assert ran_stages(dvc(proj, "repro", "build06")) == set()
    # an embed-only param reruns vae_embed (build06 only if the latents' bytes changed), not training
    set_params(proj, {"vae": {"embed": {"batch_size": 32}}})
    ran = ran_stages(dvc(proj, "repro", "build06"))
    assert "vae_embed" in ran and not ran & {"vae_snips", "vae_train"}


def test_real_dam_file_repro_build06_full_coverage(tmp_path, shared_data):
    dam_dir = shared_data / "activity" / "dam"
    assert (dam_dir / "M014.txt").exists()
    params = {
        "hbehave": {
            "zarr": {
                "input_format": "dam",
                "input_dir": str(dam_dir),
                "dam_glob": "M014.txt",
                "dam_layout": "per_monitor",
            }
        },
        "vae": {**TINY_VAE, "train": {**TINY_VAE["train"], "epochs": 1}},
    }
    proj = copy_project(tmp_path, params=params)
    res = dvc(proj, "repro", "build06")
    assert CHAIN <= ran_stages(res) and "demo_hbehave" not in ran_stages(res)
    df02, _ = check_df03(proj, 4)
    assert df02.cage_id.unique().tolist() == ["M014"]
    assert df02.experiment_date.iloc[0] == "20170630"  # first day of the monitor file
    assert df02.use_snip_flag.any() and not df02.use_snip_flag.all()  # status-51 rows at the start fail QC
