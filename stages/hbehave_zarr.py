"""hbehave_zarr: raw activity (Digital Ventilated Cage CSVs + summary, or DAM files) -> Zarr store + ingest report."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_zarr


def main(argv=None):
    args = stage_args(__doc__, argv, out="the activity Zarr store", report="ingest report JSON")
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_zarr(cfg, out=args.out, report=args.report)


if __name__ == "__main__":
    run_stage(main)
