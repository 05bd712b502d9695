"""moseq_calibrate: keypoint-moseq's confidence-to-error line fitted on labelled frames (user-labelled vs predicted)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_calibrate


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        set="name of the labelled set in moseq.calibration",
        out="folder for error_estimator.json",
        plot="error vs confidence with the fitted line (PNG)",
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_calibrate(cfg, set_name=args.set, out=args.out, plot=args.plot)


if __name__ == "__main__":
    run_stage(main)
