"""Does ``moseq_groups`` find the demo's seeded group difference? Prints the true bout share of each
demo motif per group (``motifs.tsv``), then for every syllable of the chosen model its frames per
true motif, its mean frequency per group and its FDR-corrected Kruskal-Wallis p
(``data/processed/moseq/groups/summary.json``), then the verdict the issue asks for: the syllable covering
most of ``demo.group_motif``'s frames is significant (p_adj < alpha), and at most one syllable of
another motif is (a fit may split the seeded movement over several syllables: those count as the
seeded one).

Needs ``dvc repro moseq_groups`` on the demo data first. Usage::

    PYTHONPATH=src python benchmarks/moseq_groups_demo.py [--root .]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."), help="project root after dvc repro moseq_groups")
    args = ap.parse_args()
    import keypoint_moseq as kpms

    root = args.root
    demo = json.loads((root / "data/raw/moseq/demo.json").read_text())
    truth = pd.read_csv(root / "data/raw/moseq/motifs.tsv", sep="\t")
    res = kpms.load_results(str(root / "models/moseq/results"), "model")
    pairs = [
        pd.DataFrame({"syllable": r["syllable"], "motif": truth.loc[truth["session"] == n, "motif"].to_numpy()})
        for n, r in res.items()
    ]
    frames = pd.crosstab(*pd.concat(pairs).T.values).rename_axis(index="syllable", columns="motif")
    bouts = truth[truth["motif"].ne(truth.groupby("session")["motif"].shift())]
    share = bouts.groupby(["group", "session"])["motif"].value_counts(normalize=True).unstack(fill_value=0)
    print("true bout share of each motif (mean over sessions):")
    print(share.groupby("group").mean().round(3).to_string())
    summary = json.loads((root / "data/processed/moseq/groups/summary.json").read_text())
    usage = pd.read_csv(root / "data/processed/moseq/groups/usage_duration.csv")
    freq = usage.pivot(index="syllable", columns="group", values="frequency_mean")
    table = frames.add_prefix("frames_motif_")
    table = table.join(freq.add_prefix("frequency_"), how="left")
    table["p_adj"] = [summary["frequency"]["p_adj"].get(str(s)) for s in table.index]
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(table.to_string())
    motif = demo["group_motif"]
    seeded = int(frames[motif].idxmax())
    sig = summary["frequency"]["significant"]
    p = summary["frequency"]["p_adj"].get(str(seeded))
    print(
        f"sessions per group: {', '.join(f'{g} {len(v)}' for g, v in summary['groups'].items())}; "
        f"syllables tested: {len(summary['syllables_tested'])} (min_frequency {summary['min_frequency']})"
    )
    print(f"seeded motif {motif}: syllable {seeded} ({frames.loc[seeded, motif]} of its {frames[motif].sum()} frames)")
    print(
        f"  frequency FDR p: {p}; significant syllables: {sig}; duration significant: {summary['duration']['significant']}"
    )
    of_motif = {int(s) for s in frames.index if frames.loc[s].idxmax() == motif}
    others = sorted(set(sig) - of_motif)
    found = p is not None and p < summary["alpha"] and seeded in sig and len(others) <= 1
    print(f"  significant syllables of other motifs: {others}")
    print(f"found (seeded syllable significant, at most one other): {found}")


if __name__ == "__main__":
    main()
