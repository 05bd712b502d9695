"""hbehave_train: train hBehaveMAE on the activity store (through ethoflow.dispatch; DDP when asked)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_train


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        store="the activity Zarr store",
        out="the final checkpoint",
        live="DVCLive folder",
        summary="training summary JSON",
        metrics="headline metrics (numbers only)",
        curves="long-format loss curves CSV for DVC plots (train/val)",
    )
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
