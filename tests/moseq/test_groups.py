"""Group analysis (moseq_groups) on syllables with a known group difference, without a fit: six
control and six treated sessions whose bouts are drawn from five syllables, syllable 2 three times as
likely in treated sessions. keypoint-moseq's Kruskal-Wallis with FDR finds syllable 2 and at most one
other; tables, transition matrices and figures are written. The demo's own sessions, with their true
motifs as syllables, carry the seeded difference the group analysis finds."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.groups import group_analysis, session_groups
from ethoflow.moseq.params import MoseqParams
from tests.fixtures.moseq import write_toy_kpms_config


def write_results(root, syllables: dict[str, np.ndarray], fps: float = 30.0):
    """A ``moseq_results`` folder at ``root`` (``model/results.h5`` and the kpms ``config.yml``) with
    the given per-frame syllables {session: (T,)}; centroid and heading a seeded random walk."""
    from keypoint_moseq.io import save_hdf5

    rng = np.random.default_rng(0)
    res = {
        name: {
            "syllable": np.asarray(z, dtype=np.int32),
            "centroid": np.cumsum(rng.normal(0, 1, (len(z), 2)), axis=0),
            "heading": np.cumsum(rng.normal(0, 0.1, len(z))),
        }
        for name, z in syllables.items()
    }
    (root / "model").mkdir()
    save_hdf5(str(root / "model" / "results.h5"), res)
    write_toy_kpms_config(root, ("a", "b"), fps)
    return root


@pytest.fixture
def results_dir(tmp_path):
    pytest.importorskip("keypoint_moseq")
    rng = np.random.default_rng(0)
    syllables, groups = {}, {}
    for i in range(12):
        group = ("control", "treated")[i % 2]
        weights = np.array([1.0, 1.0, 3.0 if group == "treated" else 1.0, 1.0, 1.0])
        bouts = rng.choice(5, size=40, p=weights / weights.sum())
        bouts = bouts[np.r_[True, bouts[1:] != bouts[:-1]]]  # no self-transitions, as syllables
        name = f"s{i:02d}"
        syllables[name] = np.repeat(bouts, rng.integers(5, 15, bouts.size))
        groups[name] = group
    return write_results(tmp_path, syllables), groups


def test_the_boosted_syllable_is_found_with_fdr_and_the_outputs_are_written(results_dir, tmp_path):
    res_dir, groups = results_dir
    cfg = MoseqParams(groups=groups, group_analysis={"n_perm": 2000})
    summary = group_analysis(cfg, res_dir, tmp_path / "out", tmp_path / "plots")
    sig = summary["frequency"]["significant"]
    assert 2 in sig and len(sig) <= 2, summary["frequency"]
    assert summary["frequency"]["p_adj"]["2"] < 0.05
    assert summary["groups"] == {
        "control": [f"s{i:02d}" for i in range(0, 12, 2)],
        "treated": [f"s{i:02d}" for i in range(1, 12, 2)],
    }
    kw = (tmp_path / "out" / "kruskal.csv").read_text().splitlines()
    assert kw[0] == "test,syllable,statistic,pvalue,p_adj,significant" and len(kw) == 1 + 2 * 5
    usage = (tmp_path / "out" / "usage_duration.csv").read_text().splitlines()
    assert usage[0] == "group,syllable,frequency_mean,frequency_sem,duration_mean,duration_sem" and len(usage) == 11
    trans = (tmp_path / "out" / "transitions.csv").read_text().splitlines()
    assert trans[0] == "group,from,to,probability" and len(trans) == 1 + 2 * 25
    for png in ("transition_graph_difference.png", "usage.png"):
        assert 0 < (tmp_path / "plots" / png).stat().st_size < 1_000_000


def test_groups_that_cannot_be_compared_are_an_error():
    with pytest.raises(InputError, match=r"sessions \['c'\] have no group"):
        session_groups(["a", "b", "c"], {"a": "x", "b": "y"})
    with pytest.raises(InputError, match="two or more groups of two or more sessions"):
        session_groups(["a", "b", "c"], {"a": "x", "b": "y", "c": "y"})


def test_the_demo_groups_differ_in_how_often_the_seeded_movement_occurs(tmp_path):
    """The demo's sessions (params.yaml's ``moseq.demo``: 6 control, 6 treated) with their true motifs
    as syllables, a perfect fit: the seeded motif (``group_motif``) differs in frequency with FDR p <
    0.05, and at most one other (the motif its transitions are taken from)."""
    pytest.importorskip("keypoint_moseq")
    import pandas as pd

    from ethoflow.core import load_section
    from ethoflow.demo.moseq import generate
    from tests.conftest import REPO

    cfg = load_section("moseq", MoseqParams, REPO / "params.yaml")
    generate(cfg.demo, tmp_path / "demo")
    truth = pd.read_csv(tmp_path / "demo" / "motifs.tsv", sep="\t")
    syllables = {name: g["motif"].to_numpy() for name, g in truth.groupby("session")}
    assert set(syllables) == set(cfg.groups) and len(syllables) == 12
    res_dir = tmp_path / "results"
    res_dir.mkdir()
    write_results(res_dir, syllables, fps=cfg.demo.fps)
    summary = group_analysis(cfg, res_dir, tmp_path / "out", tmp_path / "plots")
    freq = summary["frequency"]
    motif = cfg.demo.group_motif
    assert freq["p_adj"][str(motif)] < 0.05 and motif in freq["significant"], freq
    assert len(freq["significant"]) <= 2 and set(freq["significant"]) <= {motif, (motif + 1) % cfg.demo.n_motifs}
