"""moseq_full: resumable kappa search for the full keypoint-SLDS warm-started from the AR-HMM, then the final fit."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_full

main = stage_main(run_moseq_full, __doc__)

if __name__ == "__main__":
    run_stage(main)
