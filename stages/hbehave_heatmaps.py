"""hbehave_heatmaps: day/night heatmaps of embedding dims per cage and level, plus a coverage table."""

from ethoflow.core.io import write_json
from ethoflow.core.params import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import HeatmapParams
from ethoflow.hbehave.plots import heatmaps


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--agg", required=True)
    parser.add_argument("--embeddings", default=None, help="default: data/processed/hbehave/embeddings/<agg>")
    parser.add_argument("--out", default=None, help="default: reports/hbehave/heatmaps/<agg>")
    parser.add_argument("--summary", default=None, help="default: reports/hbehave/heatmaps/<agg>/summary.json")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave.heatmaps", HeatmapParams, args.params)
    emb = args.embeddings or f"data/processed/hbehave/embeddings/{args.agg}"
    out = args.out or f"reports/hbehave/heatmaps/{args.agg}"
    metrics = heatmaps(emb, args.agg, cfg, out)
    write_json(args.summary or f"{out}/summary.json", metrics)


if __name__ == "__main__":
    run_stage(main)
