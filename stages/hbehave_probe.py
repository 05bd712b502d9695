"""hbehave_probe: cross-validated linear probe (across cages) of each level's embeddings against a label."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_probe


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        agg="aggregation name from hbehave.extract.aggregations",
        embeddings="folder of the aggregation's embeddings",
        out="folder of probe.csv and probe.png",
        metrics="headline metrics JSON",
    )
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_probe(cfg, agg=args.agg, embeddings=args.embeddings, out=args.out, metrics=args.metrics)


if __name__ == "__main__":
    run_stage(main)
