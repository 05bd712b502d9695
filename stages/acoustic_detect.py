"""acoustic_detect: run one detection set's model over its unannotated recordings (Raven tables, Parquet, metrics)."""

from ethoflow.acoustic.stages import run_acoustic_detect
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_detect, __doc__)

if __name__ == "__main__":
    run_stage(main)
