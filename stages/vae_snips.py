"""vae_snips: cut the activity store into snips and write df02 (Parquet + CSV) and snip counts."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.vae.params import VAEParams
from ethoflow.vae.stages import run_vae_snips


def main(argv=None):
    args = stage_args(
        __doc__, argv, store="the activity Zarr store", out="df02 Parquet", csv="df02 CSV", summary="snip counts JSON"
    )
    cfg = load_section("vae", VAEParams, args.params)
    run_vae_snips(cfg, store=args.store, out=args.out, csv=args.csv, summary=args.summary)


if __name__ == "__main__":
    run_stage(main)
