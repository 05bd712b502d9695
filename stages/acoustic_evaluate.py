"""acoustic_evaluate: threshold and chain windows into detections, Raven tables, greedy + Hungarian IoU matching."""

from ethoflow.acoustic.stages import run_acoustic_evaluate
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_evaluate, __doc__)

if __name__ == "__main__":
    run_stage(main)
