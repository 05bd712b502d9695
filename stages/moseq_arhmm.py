"""moseq_arhmm: resumable kappa search for the AR-HMM (target median syllable duration), then the final fit."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.fit import search_stage
from ethoflow.moseq.params import MoseqParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--keypoints", default="data/interim/moseq/outliers/keypoints.p")
    parser.add_argument("--pca-dir", default="models/moseq/pca")
    parser.add_argument("--out", default="models/moseq/arhmm")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    search_stage("arhmm", cfg, args.out, keypoints=args.keypoints, pca_dir=args.pca_dir, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
