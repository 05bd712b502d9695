"""demo_hbehave: write seeded Digital Ventilated Cage-like home-cage activity (per-cage CSVs + summary.csv)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.demo.hbehave import run_demo_hbehave

main = stage_main(run_demo_hbehave, __doc__)

if __name__ == "__main__":
    run_stage(main)
