"""Latent store CSV + Parquet twin: the twin is used only while it matches the CSV byte for byte."""

import numpy as np

from ethoflow.vae.latent_store import latent_header, read_latent_file, twin_path, write_latent_csv

CSV = "snip_id,z_mu_00,z_mu_01\na_t0000,0.1234567,-1.5\na_t0001,2,3e-05\n"


def test_twin_written_and_used(tmp_path):
    p = write_latent_csv(CSV, tmp_path / "morph_latents_a.csv")
    assert p.read_text() == CSV and twin_path(p).exists()
    assert latent_header(p) == ["snip_id", "z_mu_00", "z_mu_01"]
    t, kind = read_latent_file(p, ["z_mu_00", "z_mu_01"])
    assert kind == "parquet"
    twin_path(p).rename(tmp_path / "hidden.parquet")
    parsed, kind2 = read_latent_file(p, ["z_mu_00", "z_mu_01"])
    assert kind2 == "csv" and parsed.equals(t)  # twin holds exactly what parsing the CSV gives


def test_edited_csv_or_other_dtype_falls_back_to_csv(tmp_path):
    p = write_latent_csv(CSV, tmp_path / "morph_latents_a.csv")
    p.write_text(CSV.replace("0.1234567", "0.7654321"))  # same size, different bytes
    t, kind = read_latent_file(p, ["z_mu_00", "z_mu_01"])
    assert kind == "csv" and np.isclose(t["z_mu_00"][0].as_py(), 0.7654321)
    p2 = write_latent_csv(CSV, tmp_path / "morph_latents_b.csv")
    t64, kind64 = read_latent_file(p2, ["z_mu_00"], dtype="float64")
    assert kind64 == "csv" and t64["z_mu_00"][0].as_py() == 0.1234567
