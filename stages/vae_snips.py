"""vae_snips: cut the activity store into snips and write df02 (Parquet + CSV) and snip counts."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.params import VAEParams
from ethoflow.vae.stages import run_vae_snips


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--store", required=True, help="the activity Zarr store")
    parser.add_argument("--out", required=True, help="df02 Parquet")
    parser.add_argument("--csv", required=True, help="df02 CSV")
    parser.add_argument("--summary", required=True, help="snip counts JSON")
    args = parser.parse_args(argv)
    cfg = load_section("vae", VAEParams, args.params)
    run_vae_snips(cfg, store=args.store, out=args.out, csv=args.csv, summary=args.summary)


if __name__ == "__main__":
    run_stage(main)
