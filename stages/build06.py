"""build06: df02 + the vae_embed latent store -> df03 Parquet/CSV, sidecar and coverage (all or nothing)."""

from ethoflow.build06.stages import run_build06
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_build06, __doc__)

if __name__ == "__main__":
    run_stage(main)
