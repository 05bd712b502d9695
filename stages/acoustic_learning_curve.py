"""acoustic_learning_curve: F1 (mean and spread over seeds) against training audio; evaluation/index.json."""

from ethoflow.acoustic.stages import run_acoustic_learning_curve
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_learning_curve, __doc__)

if __name__ == "__main__":
    run_stage(main)
