"""moseq_groups: syllable usage, duration and transitions compared between groups (keypoint-moseq's Kruskal-Wallis + FDR)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_groups


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--results-dir", required=True, help="moseq_results' folder (the chosen model's syllables)")
    parser.add_argument("--out", required=True, help="tables and summary.json")
    parser.add_argument("--plots", required=True, help="figures folder (difference graph, usage per group)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_groups(cfg, results_dir=args.results_dir, out=args.out, plots=args.plots)


if __name__ == "__main__":
    run_stage(main)
