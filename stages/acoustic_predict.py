"""acoustic_predict: per-window call probabilities for every recording (one variant's model x one setting)."""

from ethoflow.acoustic.stages import run_acoustic_predict
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_predict, __doc__)

if __name__ == "__main__":
    run_stage(main)
