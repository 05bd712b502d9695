"""hbehave_probe: cross-validated linear probe (across cages) of each level's embeddings against a label."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_probe


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--agg", required=True, help="aggregation name from hbehave.extract.aggregations")
    parser.add_argument("--embeddings", required=True, help="folder of the aggregation's embeddings")
    parser.add_argument("--out", required=True, help="folder of probe.csv and probe.png")
    parser.add_argument("--metrics", required=True, help="headline metrics JSON")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_probe(cfg, agg=args.agg, embeddings=args.embeddings, out=args.out, metrics=args.metrics)


if __name__ == "__main__":
    run_stage(main)
