"""hbehave_zarr: raw activity (DVC CSVs + summary, or DAM files) -> Zarr store + ingest report."""

from ethoflow.core.io import write_json
from ethoflow.core.params import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.ingest import build_store
from ethoflow.hbehave.params import ZarrParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--out", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--report", default="data/interim/hbehave/zarr_report.json")
    args = parser.parse_args(argv)
    report = build_store(load_section("hbehave.zarr", ZarrParams, args.params), args.out)
    write_json(args.report, report)


if __name__ == "__main__":
    run_stage(main)
