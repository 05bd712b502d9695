"""moseq_calibrate: keypoint-moseq's confidence-to-error line fitted on labelled frames (user-labelled vs predicted)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_calibrate


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--set", required=True, help="name of the labelled set in moseq.calibration")
    parser.add_argument("--out", required=True, help="folder for error_estimator.json")
    parser.add_argument("--plot", required=True, help="error vs confidence with the fitted line (PNG)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_calibrate(cfg, set_name=args.set, out=args.out, plot=args.plot)


if __name__ == "__main__":
    run_stage(main)
