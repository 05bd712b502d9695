"""acoustic_train: train one variant's call detector, ResNet window classifier or framewise (dispatched; resume, DVCLive)."""

from ethoflow.acoustic.stages import run_acoustic_train
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_train, __doc__)

if __name__ == "__main__":
    run_stage(main)
