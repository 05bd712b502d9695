"""build06: df02 + the vae_embed latent store -> df03 Parquet/CSV, sidecar and coverage (all or nothing)."""

from ethoflow.build06.params import Build06Params
from ethoflow.build06.stages import run_build06
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--df02", required=True, help="df02 Parquet/CSV")
    parser.add_argument("--latents", required=True, help="latent store folder <latents_root>/<model_name>")
    parser.add_argument("--model-name", required=True, help="the VAE whose latents are merged (sidecar)")
    parser.add_argument("--out", required=True, help="df03 Parquet")
    parser.add_argument("--csv", required=True, help="df03 CSV")
    parser.add_argument("--sidecar", required=True, help="df03 sidecar JSON")
    parser.add_argument("--coverage", required=True, help="coverage report JSON")
    parser.add_argument("--metrics", required=True, help="headline metrics (numbers only)")
    args = parser.parse_args(argv)
    cfg = load_section("build06", Build06Params, args.params)
    run_build06(
        cfg,
        df02=args.df02,
        latents=args.latents,
        model_name=args.model_name,
        out=args.out,
        csv=args.csv,
        sidecar=args.sidecar,
        coverage=args.coverage,
        metrics=args.metrics,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
