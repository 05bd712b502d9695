"""build06: df02 + the vae_embed latent store -> df03 Parquet/CSV, sidecar and coverage (all or nothing)."""

from ethoflow.build06.params import Build06Params
from ethoflow.build06.records import Build06Paths
from ethoflow.build06.stages import run_build06
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        df02="df02 Parquet/CSV",
        latents="latent store folder <latents_root>/<model_name>",
        model_name="the VAE whose latents are merged (sidecar)",
        out="df03 Parquet",
        csv="df03 CSV",
        sidecar="df03 sidecar JSON",
        coverage="coverage report JSON",
        metrics="headline metrics (numbers only)",
    )
    cfg = load_section("build06", Build06Params, args.params)
    run_build06(
        cfg,
        model_name=args.model_name,
        paths=Build06Paths(
            df02=args.df02,
            latents=args.latents,
            out=args.out,
            csv=args.csv,
            sidecar=args.sidecar,
            coverage=args.coverage,
            metrics=args.metrics,
        ),
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
