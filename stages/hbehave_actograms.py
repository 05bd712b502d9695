"""hbehave_actograms: a double-plotted actogram per cage from the activity store (QC before embedding)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.hbehave.stages import run_hbehave_actograms

main = stage_main(run_hbehave_actograms, __doc__)

if __name__ == "__main__":
    run_stage(main)
