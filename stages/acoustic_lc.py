"""acoustic_lc: one learning-curve point: train on N seconds of training audio (one seed), evaluate held out."""

from ethoflow.acoustic.stages import run_acoustic_lc
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_lc, __doc__)

if __name__ == "__main__":
    run_stage(main)
