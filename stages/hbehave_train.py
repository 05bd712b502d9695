"""hbehave_train: train hBehaveMAE on the activity store (through ethoflow.dispatch; DDP when asked)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.hbehave.stages import run_hbehave_train

main = stage_main(run_hbehave_train, __doc__)

if __name__ == "__main__":
    run_stage(main)
