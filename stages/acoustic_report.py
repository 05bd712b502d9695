"""acoustic_report: headline metrics (cnn vs rf), metrics.csv, metrics_per_tape.csv, PR curves, confusion tables, plot data."""

from ethoflow.acoustic.stages import run_acoustic_report
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_report, __doc__)

if __name__ == "__main__":
    run_stage(main)
