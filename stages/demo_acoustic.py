"""demo_acoustic: write seeded synthetic tapes (WAV + Raven selection tables) for the acoustic demo."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.demo.acoustic import run_demo_acoustic


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        out="folder of the demo tapes",
        heldout="folder of the detection demo's held-out tape and its truth",
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_demo_acoustic(cfg, out=args.out, heldout=args.heldout)


if __name__ == "__main__":
    run_stage(main)
