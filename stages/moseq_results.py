"""moseq_results: reindex syllables, extract results (h5 + csv), summary metrics and plots."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_results


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--arhmm-dir", required=True, help="moseq_arhmm's folder")
    parser.add_argument("--full-dir", required=True, help="moseq_full's folder")
    parser.add_argument("--seeds-dir", required=True, help="moseq_seeds' folder (the chosen seed's model)")
    parser.add_argument("--keypoints", required=True, help="cleaned keypoints.p (grid movies)")
    parser.add_argument("--grid-movies", required=True, help="folder of the grid movies per syllable")
    parser.add_argument("--pca-summary", required=True, help="PCA summary JSON")
    parser.add_argument("--out", required=True, help="results folder")
    parser.add_argument("--summary", required=True, help="summary JSON")
    parser.add_argument("--plots", required=True, help="figures folder")
    parser.add_argument("--metrics", required=True, help="headline metrics JSON (numbers only)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_results(
        cfg,
        inputs={
            "arhmm_dir": args.arhmm_dir,
            "full_dir": args.full_dir,
            "seeds_dir": args.seeds_dir,
            "keypoints": args.keypoints,
            "pca_summary": args.pca_summary,
        },
        grid_movies=args.grid_movies,
        out=args.out,
        summary=args.summary,
        plots=args.plots,
        metrics=args.metrics,
    )


if __name__ == "__main__":
    run_stage(main)
