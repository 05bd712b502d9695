"""vae_train: train the time-series VAE on df02 snips (through ethoflow.dispatch; resumable)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.vae.stages import run_vae_train

main = stage_main(run_vae_train, __doc__)

if __name__ == "__main__":
    run_stage(main)
