"""hbehave_actograms: a double-plotted actogram per cage from the activity store (QC before embedding)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_actograms


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        store="the activity Zarr store",
        out="folder of the actograms and summary.csv",
        summary="metrics JSON",
    )
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_actograms(cfg, store=args.store, out=args.out, summary=args.summary)


if __name__ == "__main__":
    run_stage(main)
