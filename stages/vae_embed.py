"""vae_embed: latent means of every df02 snip -> data/processed/latents/<model_name>/morph_latents_{exp}.csv."""

from ethoflow import dispatch
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.embed import embed_experiments
from ethoflow.vae.params import VAEParams
from ethoflow.vae.plots import plot_latents
from ethoflow.vae.snips import read_df02


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--df02", default="data/processed/vae/df02.parquet")
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--latents-root", default="data/processed/latents")
    parser.add_argument("--plot", default="reports/vae/latents_pca.png")
    args = parser.parse_args(argv)
    cfg = load_section("vae", VAEParams, args.params)
    files = dispatch.run(
        embed_experiments,
        f"models/vae/{cfg.model_name}/model.pt",
        args.df02,
        args.store,
        f"{args.latents_root}/{cfg.model_name}",
        batch_size=cfg.embed.batch_size,
        stage="vae_embed",
        params_path=args.params,
    )
    plot_latents(files, read_df02(args.df02), args.plot)


if __name__ == "__main__":
    run_stage(main)
