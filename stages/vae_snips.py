"""vae_snips: cut the activity store into snips and write df02 (Parquet + CSV) and snip counts."""

from ethoflow.core import load_section, write_json
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.vae.params import VAEParams
from ethoflow.vae.snips import build_df02, snips_summary, write_df02


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--out", default="data/processed/vae/df02.parquet")
    parser.add_argument("--csv", default="data/processed/vae/df02.csv")
    parser.add_argument("--summary", default="data/processed/vae/snips_summary.json")
    args = parser.parse_args(argv)
    cfg = load_section("vae", VAEParams, args.params)
    df = build_df02(args.store, cfg.snips)
    write_df02(df, args.out, args.csv)
    write_json(args.summary, snips_summary(df))


if __name__ == "__main__":
    run_stage(main)
