"""hbehave_train: train hBehaveMAE on the activity store (through ethoflow.dispatch; DDP when asked)."""

from ethoflow import dispatch
from ethoflow.core.io import write_json, write_live_curves, write_metrics
from ethoflow.core.params import load_section
from ethoflow.core.paths import state_dir
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.train import dispatch_train, headline_metrics, stable_metrics


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--out", default="models/hbehave/model.pt")
    parser.add_argument("--live", default="reports/hbehave/train_live")
    parser.add_argument("--summary", default="models/hbehave/train_summary.json", help="training summary JSON")
    parser.add_argument("--metrics", default="metrics/hbehave.json", help="headline metrics (numbers only)")
    parser.add_argument("--curves", default=None, help="long-format loss curves CSV for DVC plots (train/val)")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    compute = dispatch.load_compute(args.params)
    nproc = int((compute.resources("hbehave_train").options or {}).get("nproc", 1))  # local DDP processes
    summary = dispatch_train(
        cfg.model,
        cfg.train,
        args.store,
        args.out,
        args.live,
        str(state_dir("hbehave_train")),
        nproc=nproc,
        stage="hbehave_train",
        compute=compute,
    )
    stable = stable_metrics(summary)  # wall time etc.: logged, not kept
    write_json(args.summary, stable)
    write_metrics(args.metrics, headline_metrics(stable))
    if args.curves:
        write_live_curves(args.live, ["loss"], args.curves)


if __name__ == "__main__":
    run_stage(main)
