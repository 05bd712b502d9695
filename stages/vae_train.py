"""vae_train: train the time-series VAE on df02 snips (through ethoflow.dispatch; resumable)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.params import VAEParams
from ethoflow.vae.stages import run_vae_train


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--df02", required=True, help="df02 Parquet (vae_snips)")
    parser.add_argument("--store", required=True, help="the activity Zarr store")
    parser.add_argument("--model-dir", required=True, help="model folder (model.pt)")
    parser.add_argument("--live-dir", required=True, help="DVCLive folder")
    parser.add_argument("--summary", required=True, help="training summary JSON")
    parser.add_argument("--metrics", required=True, help="headline metrics (numbers only)")
    parser.add_argument("--curves", required=True, help="long-format ELBO/KL/reconstruction curves CSV (train/val)")
    parser.add_argument("--figure", required=True, help="reconstructions PNG")
    parser.add_argument("--traversal", required=True, help="latent-traversal PNG (what each latent dim encodes)")
    args = parser.parse_args(argv)
    cfg = load_section("vae", VAEParams, args.params)
    run_vae_train(
        cfg,
        df02=args.df02,
        store=args.store,
        model_dir=args.model_dir,
        live_dir=args.live_dir,
        summary=args.summary,
        metrics=args.metrics,
        figure=args.figure,
        curves=args.curves,
        traversal=args.traversal,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
