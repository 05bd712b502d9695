"""hbehave_heatmaps: day/night heatmaps of embedding dims per cage and level, plus a coverage table."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_heatmaps


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        agg="aggregation name from hbehave.extract.aggregations",
        embeddings="folder of the aggregation's embeddings",
        out="folder of the heatmaps and summary.csv",
        summary="metrics JSON",
    )
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_heatmaps(cfg, agg=args.agg, embeddings=args.embeddings, out=args.out, summary=args.summary)


if __name__ == "__main__":
    run_stage(main)
