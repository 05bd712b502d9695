"""moseq_calibrate: keypoint-moseq's confidence-to-error line fitted on labelled frames (user-labelled vs predicted)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_calibrate

main = stage_main(run_moseq_calibrate, __doc__)

if __name__ == "__main__":
    run_stage(main)
