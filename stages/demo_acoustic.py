"""demo_acoustic: write seeded synthetic tapes (WAV + Raven selection tables) for the acoustic demo."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.demo.acoustic import run_demo_acoustic

main = stage_main(run_demo_acoustic, __doc__)

if __name__ == "__main__":
    run_stage(main)
