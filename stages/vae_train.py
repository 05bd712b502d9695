"""vae_train: train the time-series VAE on df02 snips (through ethoflow.dispatch; resumable)."""

from ethoflow import dispatch
from ethoflow.core import load_section, state_dir, write_live_curves, write_metrics
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.params import VAEParams
from ethoflow.vae.train import headline_metrics, train_vae


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--df02", default="data/processed/vae/df02.parquet")
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--model-dir", default=None, help="default: models/vae/<model_name>")
    parser.add_argument("--live-dir", default="reports/vae/train_live")
    parser.add_argument(
        "--summary", default=None, help="training summary JSON; default: <model dir>/train_summary.json"
    )
    parser.add_argument("--metrics", default="metrics/vae.json", help="headline metrics (numbers only)")
    parser.add_argument("--curves", default=None, help="long-format ELBO/KL/reconstruction curves CSV (train/val)")
    parser.add_argument("--figure", default="reports/vae/reconstructions.png")
    args = parser.parse_args(argv)
    cfg = load_section("vae", VAEParams, args.params)
    model_dir = args.model_dir or f"models/vae/{cfg.model_name}"
    summary = dispatch.run(
        train_vae,
        args.df02,
        args.store,
        cfg.model_dump(),
        model_dir,
        args.live_dir,
        args.summary or f"{model_dir}/train_summary.json",
        str(state_dir("checkpoints", "vae_train")),
        figure_path=args.figure,
        stage="vae_train",
        params_path=args.params,
    )
    if not summary.get("interrupted"):
        write_metrics(args.metrics, headline_metrics(summary))
        if args.curves:
            write_live_curves(args.live_dir, ["elbo", "recon", "kl"], args.curves)


if __name__ == "__main__":
    run_stage(main)
