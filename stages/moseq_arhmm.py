"""moseq_arhmm: resumable kappa search for the AR-HMM (target median syllable duration), then the final fit."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_arhmm


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--keypoints", required=True, help="cleaned keypoints.p")
    parser.add_argument("--pca-dir", required=True, help="moseq_pca's folder")
    parser.add_argument("--out", required=True, help="search state, final AR-HMM, config.yml (persist)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_arhmm(cfg, keypoints=args.keypoints, pca_dir=args.pca_dir, out=args.out, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
