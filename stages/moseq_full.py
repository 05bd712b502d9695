"""moseq_full: resumable kappa search for the full keypoint-SLDS warm-started from the AR-HMM, then the final fit."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.fit import search_stage
from ethoflow.moseq.params import MoseqParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--arhmm-dir", default="models/moseq/arhmm")
    parser.add_argument("--out", default="models/moseq/full")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    search_stage("full", cfg, args.out, arhmm_dir=args.arhmm_dir, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
