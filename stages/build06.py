"""build06: df02 + latents (data/processed/latents/<model_name>/) -> df03 Parquet/CSV, coverage, sidecar."""

from ethoflow.build06 import Build06Params, run_build06
from ethoflow.build06.merge import headline_metrics
from ethoflow.core import load_section, write_metrics
from ethoflow.core.errors import ParamsError
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.params import VAEParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--metrics", default="metrics/build06.json", help="headline metrics (numbers only)")
    args = parser.parse_args(argv)
    cfg = load_section("build06", Build06Params, args.params)
    vae = load_section("vae", VAEParams, args.params, required=False)
    res = run_build06(cfg, model_name=vae.model_name, dvc_managed=True)
    if res.dry_run:
        raise ParamsError(
            f"{args.params}: build06.dry_run is true: nothing written (use `ethoflow build06 "
            "--dry-run` for plans; dvc repro needs the outputs)"
        )
    write_metrics(args.metrics, headline_metrics(res.coverage))


if __name__ == "__main__":
    run_stage(main)
