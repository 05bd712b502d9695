"""moseq_groups: syllable usage and duration compared between groups of training sessions.

keypoint-moseq's own analysis (``keypoint_moseq.analysis``; Weinreb et al. 2024) on the chosen
model's per-frame syllables (``moseq_results``): ``compute_moseq_df`` (one row per frame, the group
of each session from ``moseq.groups``), ``compute_stats_df`` (per session and syllable: frequency
= share of the session's syllable instances, mean duration in seconds, kinematics; syllables above
``min_frequency`` of all instances), ``run_kruskal`` (Kruskal-Wallis per syllable with permutation
p-values, ``n_perm`` permutations of the sessions' group labels, Benjamini-Hochberg FDR across
syllables, ``mc_method="fdr_bh"``) on the frequencies and on the durations,
``get_group_trans_mats`` (bigram-normalised transition matrices per group) and
``plot_transition_graph_difference``.

Sessions are the samples: a group needs at least two sessions. Outputs: ``usage_duration.csv``
(group, syllable, mean and SEM over sessions of frequency and duration), ``per_session.csv``
(kpms' stats table), ``kruskal.csv`` (statistic, ``syllable``, raw and FDR-corrected p per
statistic), ``transitions.csv`` (group, from, to, probability), ``summary.json``; figures
``transition_graph_difference.png`` and ``usage.png`` (frequency per group, significant syllables
starred).
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import save_figure, write_json, write_metrics
from ethoflow.core.logging import get_logger
from ethoflow.moseq import io
from ethoflow.moseq.params import GroupAnalysisParams, MoseqParams
from ethoflow.moseq.validation import kpms_png

log = get_logger(__name__)

MODEL_NAME = "model"


def session_groups(sessions: list[str], groups: dict[str, str]) -> dict[str, str]:
    """{session: group} for the results' ``sessions`` from ``moseq.groups``.

    Raises:
        InputError: a session without a group, a group naming no session of the results, or fewer
            than two groups with at least two sessions each (Kruskal-Wallis compares groups of
            sessions).
    """
    missing = [s for s in sessions if s not in groups]
    unknown = sorted(set(groups) - set(sessions))
    if missing:
        raise InputError(f"moseq.groups: sessions {missing} have no group (sessions: {sessions})")
    if unknown:
        log.info("moseq.groups: %s are not training sessions of the model; left out", unknown)
    out = {s: str(groups[s]) for s in sessions}
    sizes = {g: list(out.values()).count(g) for g in sorted(set(out.values()))}
    if len(sizes) < 2 or min(sizes.values()) < 2:
        raise InputError(f"moseq.groups: need two or more groups of two or more sessions each, got {sizes}")
    return out


def kruskal_table(stats_df, statistic: str, n_perm: int, seed: int, alpha: float):
    """``keypoint_moseq.run_kruskal`` on ``statistic`` (``frequency`` or ``duration``) of kpms'
    stats table: one row per syllable (the stats table's syllables, sorted) with ``syllable``,
    ``statistic`` (H), ``pvalue`` (scipy's chi-squared p), ``p_adj`` (permutation p, FDR-BH) and
    ``significant`` (``p_adj < alpha``)."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    syllables = sorted(int(s) for s in stats_df["syllable"].unique())
    with contextlib.redirect_stdout(_io.StringIO()):
        df_k, _, _ = kpms.run_kruskal(stats_df, statistic=statistic, n_perm=n_perm, seed=seed, thresh=alpha)
    df_k = df_k.reset_index(drop=True)
    df_k.insert(0, "syllable", syllables)
    df_k["significant"] = df_k["p_adj"] < alpha
    return df_k[["syllable", "statistic", "pvalue", "p_adj", "significant"]]


def group_analysis(
    cfg: MoseqParams,
    results_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    plots_dir: str | os.PathLike,
    metrics_json: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Compare the groups of ``moseq.groups`` on the chosen model's syllables in ``results_dir``
    (``moseq_results``' folder: ``config.yml`` with ``fps``, ``model/results.h5``); see the module
    docstring for the method and outputs.

    Returns:
        the summary written to ``out_dir/summary.json``: groups and their sessions, the syllables
        tested, per statistic the significant syllables and every syllable's ``p_adj``.

    Raises:
        InputError: missing results, or groups that cannot be compared (:func:`session_groups`).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    results_dir = Path(results_dir)
    if not (results_dir / MODEL_NAME / "results.h5").exists():
        raise InputError(f"{results_dir / MODEL_NAME / 'results.h5'} missing: run moseq_results first")
    ga = cfg.group_analysis
    fps = float(io.read_kpms_config(results_dir)["fps"])
    res = kpms.load_results(str(results_dir), MODEL_NAME)
    names = sorted(res)
    group_of = session_groups(names, cfg.groups)
    with contextlib.redirect_stdout(_io.StringIO()):  # kpms prints a hint about its own index.csv
        moseq_df = kpms.compute_moseq_df(str(results_dir), MODEL_NAME, {n: res[n] for n in names}, fps=fps)
    moseq_df["group"] = moseq_df["name"].map(group_of)
    stats_df = kpms.compute_stats_df(moseq_df, min_frequency=ga.min_frequency, groupby=["group", "name"])
    stats_df = stats_df.sort_values(["group", "name", "syllable"], kind="stable").reset_index(drop=True)
    tests = {stat: kruskal_table(stats_df, stat, ga.n_perm, cfg.seed, ga.alpha) for stat in ("frequency", "duration")}
    per_group = stats_df.groupby(["group", "syllable"])[["frequency", "duration"]].agg(["mean", "sem"]).reset_index()
    per_group.columns = ["_".join(c).strip("_") for c in per_group.columns]
    group_names = sorted(set(group_of.values()))
    labels = [np.asarray(res[n]["syllable"]) for n in names]
    syll_include, trans_mats, usages = group_transitions(
        labels, [group_of[n] for n in names], group_names, ga.min_frequency
    )
    rows = transition_rows(group_names, trans_mats, syll_include)
    out, plots = Path(out_dir), Path(plots_dir)
    for d in (out, plots):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    write_tables(out, tests, per_group, stats_df, rows)
    kpms_png(
        lambda tmp: kpms.plot_transition_graph_difference(
            str(results_dir), MODEL_NAME, group_names, trans_mats, usages, syll_include, save_dir=tmp
        ),
        "transition_graphs_diff",
        plots / "transition_graph_difference.png",
    )
    usage_figure(per_group, tests["frequency"], plots / "usage.png")
    summary = group_summary({g: [n for n in names if group_of[n] == g] for g in group_names}, tests, ga, fps)
    write_json(out / "summary.json", summary)
    if metrics_json is not None:
        write_metrics(
            metrics_json,
            {f"{stat}_significant": len(summary[stat]["significant"]) for stat in ("frequency", "duration")}
            | {"min_p_adj": {stat: float(tests[stat]["p_adj"].min()) for stat in tests}},
        )
    log.info(
        "moseq_groups: %s; syllables differing in frequency (FDR p < %g): %s",
        ", ".join(f"{g}: {len(v)} sessions" for g, v in summary["groups"].items()),
        ga.alpha,
        ", ".join(
            f"{s} (p_adj {summary['frequency']['p_adj'][str(s)]:.3g})" for s in summary["frequency"]["significant"]
        )
        or "none",
    )
    return summary


def write_tables(
    out: Path, tests: dict[str, Any], per_group: Any, stats_df: Any, transitions: list[dict[str, Any]]
) -> None:
    """moseq_groups' CSVs in ``out``: ``kruskal.csv`` (every test of ``tests``, :func:`kruskal_table`),
    ``usage_duration.csv`` (``per_group``: mean and SEM per group and syllable), ``per_session.csv``
    (``stats_df``: kpms' statistics per session) and ``transitions.csv`` (``transitions``: rows of
    group, from, to, probability)."""
    # local: keeps ethoflow.moseq.groups importable without pandas
    import pandas as pd

    table = pd.concat([t.assign(test=stat) for stat, t in tests.items()], ignore_index=True)
    table = table[["test", "syllable", "statistic", "pvalue", "p_adj", "significant"]]
    csv = {"index": False, "float_format": "%.6g", "lineterminator": "\n"}
    table.to_csv(out / "kruskal.csv", **csv)
    per_group.to_csv(out / "usage_duration.csv", **csv)
    stats_df.to_csv(out / "per_session.csv", **csv)
    pd.DataFrame(transitions, columns=["group", "from", "to", "probability"]).to_csv(out / "transitions.csv", **csv)


def group_transitions(
    labels: list[np.ndarray], groups: list[str], group_names: list[str], min_frequency: float
) -> tuple[np.ndarray, list[np.ndarray], list[Any]]:
    """Bigram transition matrices per group (``keypoint_moseq.get_group_trans_mats``) between the
    syllables above ``min_frequency`` of all frames (``keypoint_moseq.get_frequencies``).

    Args:
        labels: per session, its syllables (T,); groups: per session, its group.
        group_names: the groups, in the order of the matrices.

    Returns:
        (the syllables included, one (S, S) matrix per group with NaN as 0, kpms' usages per group).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    freqs = np.asarray(kpms.get_frequencies(labels))
    syll_include = np.flatnonzero(freqs > min_frequency)
    trans_mats, usages = kpms.get_group_trans_mats(labels, groups, group_names, syll_include, normalize="bigram")
    return syll_include, [np.nan_to_num(np.asarray(t, dtype=float)) for t in trans_mats], usages


def transition_rows(
    group_names: list[str], trans_mats: list[np.ndarray], syll_include: np.ndarray
) -> list[dict[str, Any]]:
    """The matrices of :func:`group_transitions` in long format: one row per group, from and to
    syllable (``syll_include`` gives the matrices' syllables) with its probability."""
    return [
        {"group": g, "from": int(a), "to": int(b), "probability": float(tm[i, j])}
        for g, tm in zip(group_names, trans_mats)
        for i, a in enumerate(syll_include)
        for j, b in enumerate(syll_include)
    ]


def group_summary(
    groups: dict[str, list[str]], tests: dict[str, Any], ga: GroupAnalysisParams, fps: float
) -> dict[str, Any]:
    """``summary.json`` of moseq_groups: ``groups`` ({group: sessions}), the syllables tested, the
    method's settings (``ga``), ``fps``, and per statistic of ``tests`` ({statistic: Kruskal-Wallis
    table, :func:`kruskal_table`}) the significant syllables and every syllable's ``p_adj``."""
    summary = {
        "groups": groups,
        "syllables_tested": [int(s) for s in tests["frequency"]["syllable"]],
        "n_perm": ga.n_perm,
        "alpha": ga.alpha,
        "min_frequency": ga.min_frequency,
        "fps": fps,
    }
    for stat, t in tests.items():
        summary[stat] = {
            "significant": [int(s) for s in t.loc[t["significant"], "syllable"]],
            "p_adj": {str(int(s)): float(p) for s, p in zip(t["syllable"], t["p_adj"])},
        }
    return summary


def usage_figure(per_group, kruskal, png: str | os.PathLike) -> None:
    """Mean syllable frequency per group (bars, SEM over sessions), syllables with an FDR-corrected
    Kruskal-Wallis p below alpha starred."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from matplotlib.figure import Figure

    syllables = sorted(per_group["syllable"].unique())
    groups = sorted(per_group["group"].unique())
    fig = Figure(figsize=(max(4.0, 0.45 * len(syllables) * len(groups) + 1.5), 3.0))
    ax = fig.subplots()
    width = 0.8 / len(groups)
    x = np.arange(len(syllables))
    for i, g in enumerate(groups):
        d = per_group[per_group["group"] == g].set_index("syllable").reindex(syllables)
        ax.bar(x + i * width, d["frequency_mean"], width, yerr=d["frequency_sem"].fillna(0), label=g, capsize=2)
    sig = set(kruskal.loc[kruskal["significant"], "syllable"])
    top = per_group["frequency_mean"].max()
    for j, s in enumerate(syllables):
        if s in sig:
            ax.text(x[j] + 0.4 - width / 2, top * 1.08, "*", ha="center", fontsize=12)
    ax.set_xticks(x + 0.4 - width / 2, [str(s) for s in syllables], fontsize=8)
    ax.set_xlabel("syllable")
    ax.set_ylabel("frequency (fraction of frames)")
    ax.set_ylim(0, top * 1.2)
    ax.legend(fontsize=8)
    ax.set_title("* FDR-corrected Kruskal-Wallis p < alpha", fontsize=8)
    fig.tight_layout()
    save_figure(fig, png, dpi=100)
