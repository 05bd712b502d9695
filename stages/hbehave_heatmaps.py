"""hbehave_heatmaps: day/night heatmaps of embedding dims per cage and level, plus a coverage table."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.hbehave.stages import run_hbehave_heatmaps

main = stage_main(run_hbehave_heatmaps, __doc__)

if __name__ == "__main__":
    run_stage(main)
