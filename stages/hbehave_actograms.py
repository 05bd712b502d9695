"""hbehave_actograms: a double-plotted actogram per cage from the activity store (QC before embedding)."""

from ethoflow.core.io import write_json
from ethoflow.core.params import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import ActogramParams, HeatmapParams
from ethoflow.hbehave.plots import actograms


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--out", default="reports/hbehave/actograms")
    parser.add_argument("--summary", default=None, help="default: <out>/summary.json")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave.actogram", ActogramParams, args.params)
    light = load_section("hbehave.heatmaps", HeatmapParams, args.params)  # the light phase: day_start/end_hour
    metrics = actograms(args.store, cfg, args.out, light.day_start_hour, light.day_end_hour)
    write_json(args.summary or f"{args.out}/summary.json", metrics)


if __name__ == "__main__":
    run_stage(main)
