"""hbehave_extract: per-minute hierarchical embeddings (level1..levelN, comb) for one aggregation."""

from ethoflow.core.io import write_json
from ethoflow.core.params import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.extract import extract
from ethoflow.hbehave.params import HBehaveParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--agg", required=True, help="aggregation name from hbehave.extract.aggregations")
    parser.add_argument("--model", default="models/hbehave/model.pt")
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--out", default=None, help="default: data/processed/hbehave/embeddings/<agg>")
    parser.add_argument("--summary", default=None, help="default: data/processed/hbehave/embeddings/<agg>/summary.json")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    out = args.out or f"data/processed/hbehave/embeddings/{args.agg}"
    metrics = extract(args.model, args.store, args.agg, cfg.extract, out, model_params=cfg.model,
                      stage=f"hbehave_extract@{args.agg}")
    write_json(args.summary or f"{out}/summary.json", metrics)


if __name__ == "__main__":
    run_stage(main)
