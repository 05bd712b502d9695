"""vae_embed: latent means of every df02 snip -> morph_latents_{exp}.csv in the model's latent folder."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.vae.params import VAEParams
from ethoflow.vae.stages import run_vae_embed


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        model="the trained model.pt",
        df02="df02 Parquet",
        store="the activity Zarr store",
        latents="the model's folder of the latent store",
        plot="PNG of the latents' first two principal components",
    )
    cfg = load_section("vae", VAEParams, args.params)
    run_vae_embed(
        cfg,
        model=args.model,
        df02=args.df02,
        store=args.store,
        latents=args.latents,
        plot=args.plot,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
