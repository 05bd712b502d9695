"""vae_embed: latent means of every df02 snip -> morph_latents_{exp}.csv in the model's latent folder."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.params import VAEParams
from ethoflow.vae.stages import run_vae_embed


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--model", required=True, help="the trained model.pt")
    parser.add_argument("--df02", required=True, help="df02 Parquet")
    parser.add_argument("--store", required=True, help="the activity Zarr store")
    parser.add_argument("--latents", required=True, help="the model's folder of the latent store")
    parser.add_argument("--plot", required=True, help="PNG of the latents' first two principal components")
    args = parser.parse_args(argv)
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
