"""hbehave_actograms: a double-plotted actogram per cage from the activity store (QC before embedding)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_actograms


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--store", required=True, help="the activity Zarr store")
    parser.add_argument("--out", required=True, help="folder of the actograms and summary.csv")
    parser.add_argument("--summary", required=True, help="metrics JSON")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_actograms(cfg, store=args.store, out=args.out, summary=args.summary)


if __name__ == "__main__":
    run_stage(main)
