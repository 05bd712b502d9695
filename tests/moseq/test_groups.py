"""Group analysis (moseq_groups) on syllables with a known group difference, without a fit: six
control and six treated sessions whose bouts are drawn from five syllables, syllable 2 three times as
likely in treated sessions. keypoint-moseq's Kruskal-Wallis with FDR finds syllable 2 and at most one
other; tables, transition matrices and figures are written."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.groups import group_analysis, session_groups
from ethoflow.moseq.params import MoseqParams


@pytest.fixture
def results_dir(tmp_path):
    pytest.importorskip("keypoint_moseq")
    from keypoint_moseq.io import save_hdf5

    from ethoflow.moseq.io import write_kpms_config

    rng = np.random.default_rng(0)
    res, groups = {}, {}
    for i in range(12):
        group = ("control", "treated")[i % 2]
        weights = np.array([1.0, 1.0, 3.0 if group == "treated" else 1.0, 1.0, 1.0])
        bouts = rng.choice(5, size=40, p=weights / weights.sum())
        bouts = bouts[np.r_[True, bouts[1:] != bouts[:-1]]]  # no self-transitions, as syllables
        z = np.repeat(bouts, rng.integers(5, 15, bouts.size))
        name = f"s{i:02d}"
        res[name] = {
            "syllable": z.astype(np.int32),
            "centroid": np.cumsum(rng.normal(0, 1, (z.size, 2)), axis=0),
            "heading": np.cumsum(rng.normal(0, 0.1, z.size)),
        }
        groups[name] = group
    (tmp_path / "model").mkdir()
    save_hdf5(str(tmp_path / "model" / "results.h5"), res)
    write_kpms_config(
        tmp_path,
        bodyparts=["a", "b"],
        use_bodyparts=["a", "b"],
        anterior_bodyparts=["a"],
        posterior_bodyparts=["b"],
        skeleton=[],
        fps=30.0,
        video_dir="",
    )
    return tmp_path, groups


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
