"""hbehave_train: train hBehaveMAE on the activity store (through ethoflow.dispatch; DDP when asked)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_train


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--store", required=True, help="the activity Zarr store")
    parser.add_argument("--out", required=True, help="the final checkpoint")
    parser.add_argument("--live", required=True, help="DVCLive folder")
    parser.add_argument("--summary", required=True, help="training summary JSON")
    parser.add_argument("--metrics", required=True, help="headline metrics (numbers only)")
    parser.add_argument("--curves", required=True, help="long-format loss curves CSV for DVC plots (train/val)")
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_train(
        cfg,
        store=args.store,
        out=args.out,
        live=args.live,
        summary=args.summary,
        metrics=args.metrics,
        curves=args.curves,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
