"""vae_embed: latent means of every df02 snip -> morph_latents_{exp}.csv in the model's latent folder."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.vae.stages import run_vae_embed

main = stage_main(run_vae_embed, __doc__)

if __name__ == "__main__":
    run_stage(main)
