"""vae_train: train the time-series VAE on df02 snips (through ethoflow.dispatch; resumable)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.vae.params import VAEParams
from ethoflow.vae.records import TrainPaths
from ethoflow.vae.stages import run_vae_train


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        df02="df02 Parquet (vae_snips)",
        store="the activity Zarr store",
        model_dir="model folder (model.pt)",
        live_dir="DVCLive folder",
        summary="training summary JSON",
        metrics="headline metrics (numbers only)",
        curves="long-format ELBO/KL/reconstruction curves CSV (train/val)",
        figure="reconstructions PNG",
        traversal="latent-traversal PNG (what each latent dim encodes)",
    )
    cfg = load_section("vae", VAEParams, args.params)
    run_vae_train(
        cfg,
        paths=TrainPaths(
            df02=args.df02,
            store=args.store,
            model_dir=args.model_dir,
            live_dir=args.live_dir,
            summary=args.summary,
            metrics=args.metrics,
            figure=args.figure,
            curves=args.curves,
            traversal=args.traversal,
        ),
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
