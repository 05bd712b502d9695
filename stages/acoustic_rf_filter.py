"""acoustic_rf_filter: keep the detections the random forest accepts; tables and metrics of the `rf` layer."""

from ethoflow.acoustic.stages import run_acoustic_rf_filter
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_rf_filter, __doc__)

if __name__ == "__main__":
    run_stage(main)
