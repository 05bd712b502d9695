"""hbehave linear probe: a level that encodes the label beats chance, a noise level does not; labels tables
(time windows or whole cages) read with errors naming file and line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.hbehave.params import ProbeParams
from ethoflow.hbehave.probe import read_labels, run_probe

CAGES = ["c1", "c2", "c3", "c4"]


def _write_level(folder, level, make_row):
    n = 2 * 1440
    ts = np.datetime64("2024-03-04T00:00", "m") + np.arange(n)
    rng = np.random.default_rng(abs(hash(level)) % 2**32)
    embs, rows = [], []
    for i, cid in enumerate(CAGES):
        embs.append(make_row(ts, rng, i))
        rows.append((cid, i * n, (i + 1) * n))
    cage_rows = np.array(rows, dtype=[("cage_id", "U8"), ("start", "i8"), ("stop", "i8")])
    np.savez(
        folder / f"embeddings_4h_{level}.npz",
        embeddings=np.concatenate(embs).astype(np.float32),
        timestamps=np.tile(ts, len(CAGES)),
        valid=np.ones(n * len(CAGES), np.float32),
        cage_rows=cage_rows,
    )


@pytest.fixture
def embeddings(tmp_path):
    folder = tmp_path / "emb"
    folder.mkdir()
    hours = lambda ts: (ts - ts.astype("datetime64[D]")).astype(int) / 60  # noqa: E731

    def light(ts, rng, i):  # dim 0 follows the light phase (7-19 h), plus noise and a cage offset
        x = rng.normal(size=(len(ts), 6))
        x[:, 0] += 1.5 * ((hours(ts) >= 7) & (hours(ts) < 19)) + 0.3 * i
        return x

    _write_level(folder, "level1", light)
    _write_level(folder, "level2", lambda ts, rng, i: rng.normal(size=(len(ts), 6)))
    return folder


def test_probe_beats_chance_where_the_level_encodes_the_light_phase(embeddings, tmp_path):
    cfg = ProbeParams(n_permutations=3, folds=4)
    res = run_probe(embeddings, "4h", cfg, (7.0, 19.0), tmp_path / "out")
    assert list(res) == ["level1", "level2"]
    enc, noise = res["level1"], res["level2"]
    assert enc["n_bins"] == 4 * 48 and enc["n_cages"] == 4 and enc["classes"] == {"dark": 96, "light": 96}
    assert enc["chance_accuracy"] == 0.5
    assert enc["accuracy"] > 0.9 and enc["macro_f1"] > enc["chance_macro_f1"] + 0.3
    assert enc["p_value"] == pytest.approx(1 / 4)  # the smallest p with 3 permutations
    assert noise["macro_f1"] < 0.7
    table = pd.read_csv(tmp_path / "out/probe.csv")
    assert list(table["level"]) == ["level1", "level2"]
    assert (tmp_path / "out/probe.png").stat().st_size > 5000


def test_whole_cage_labels_from_a_table(embeddings, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("cage_id,start,end,genotype\nc1,,,wt\nc2,,,ko\nc3,,,wt\nc4,,,ko\n")
    cfg = ProbeParams(label="genotype", labels_file=str(labels), n_permutations=2, folds=2)
    res = run_probe(embeddings, "4h", cfg, (7.0, 19.0), tmp_path / "out")
    assert res["level1"]["classes"] == {"ko": 96, "wt": 96}


def test_labels_table_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("cage_id,start,end,phase\nc1,2024-03-04 00:00,2024-03-04 12:00,a\nc1,2024-03-05,2024-03-04,b\n")
    with pytest.raises(InputError, match=r"labels.csv: line 3: end 2024-03-04 is not after start"):
        read_labels(bad, "phase")
    with pytest.raises(InputError, match=r"labels.csv: missing column\(s\) \['sex'\]"):
        read_labels(bad, "sex")
    bad.write_text("cage_id,start,end,phase\nc1,2024-03-04,,a\n")
    with pytest.raises(InputError, match=r"line 2: give both start and end"):
        read_labels(bad, "phase")


def test_a_label_other_than_light_phase_needs_a_table(embeddings, tmp_path):
    with pytest.raises(ParamsError, match="hbehave.probe.label: 'genotype' needs hbehave.probe.labels_file"):
        run_probe(embeddings, "4h", ProbeParams(label="genotype"), (7.0, 19.0), tmp_path / "out")
