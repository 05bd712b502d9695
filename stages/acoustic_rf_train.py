"""acoustic_rf_train: librosa features of every detection; random forest on the validation tapes' detections."""

from ethoflow.acoustic.stages import run_acoustic_rf_train
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_rf_train, __doc__)

if __name__ == "__main__":
    run_stage(main)
