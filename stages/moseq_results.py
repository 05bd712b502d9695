"""moseq_results: reindex syllables, extract results (h5 + csv), summary metrics and plots."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.results import results


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--arhmm-dir", default="models/moseq/arhmm")
    parser.add_argument("--full-dir", default="models/moseq/full")
    parser.add_argument("--pca-summary", default="models/moseq/pca/pca.json")
    parser.add_argument("--out", default="models/moseq/results")
    parser.add_argument("--summary", default="models/moseq/results/summary.json")
    parser.add_argument("--plots", default="reports/moseq/results")
    parser.add_argument("--metrics", default="metrics/moseq.json", help="headline metrics (numbers only)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    results(cfg, args.arhmm_dir, args.full_dir, args.pca_summary, args.out, args.summary, args.plots, args.metrics)


if __name__ == "__main__":
    run_stage(main)
