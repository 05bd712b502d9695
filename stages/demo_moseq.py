"""demo_moseq: write seeded synthetic pose tracks (DeepLabCut .h5) for training and held-back sessions."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.demo.moseq import run_demo_moseq

main = stage_main(run_demo_moseq, __doc__)

if __name__ == "__main__":
    run_stage(main)
