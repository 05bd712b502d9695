"""moseq_groups: syllable usage, duration and transitions compared between groups (keypoint-moseq's Kruskal-Wallis + FDR)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_groups


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        results_dir="moseq_results' folder (the chosen model's syllables)",
        out="tables and summary.json",
        plots="figures folder (difference graph, usage per group)",
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_groups(cfg, results_dir=args.results_dir, out=args.out, plots=args.plots)


if __name__ == "__main__":
    run_stage(main)
