"""moseq_seeds: fit the final model from n_seeds seeds (a job array), keep the highest EML; EML and confusion figures."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_seeds


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--keypoints", required=True, help="cleaned keypoints.p")
    parser.add_argument("--pca-dir", required=True, help="moseq_pca's folder")
    parser.add_argument("--arhmm-dir", required=True, help="moseq_arhmm's folder (AR-HMM kappa)")
    parser.add_argument("--full-dir", required=True, help="moseq_full's folder (full-model kappa)")
    parser.add_argument("--out", required=True, help="one model per seed and seeds.json (persist)")
    parser.add_argument("--eml-plot", required=True, help="EML score per seed (PNG)")
    parser.add_argument("--confusion-plot", required=True, help="chosen vs runner-up syllables (PNG)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_seeds(
        cfg,
        inputs={
            "keypoints": args.keypoints,
            "pca_dir": args.pca_dir,
            "arhmm_dir": args.arhmm_dir,
            "full_dir": args.full_dir,
        },
        out=args.out,
        eml_plot=args.eml_plot,
        confusion_plot=args.confusion_plot,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
