"""demo_moseq: write seeded synthetic pose tracks (DeepLabCut .h5) for training and held-back sessions."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.demo.moseq import run_demo_moseq
from ethoflow.moseq.params import MoseqParams


def main(argv=None):
    args = stage_args(
        __doc__, argv, out="folder of the demo pose files", heldout_out="folder of the held-back sessions (moseq_apply)"
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_demo_moseq(cfg, out=args.out, heldout_out=args.heldout_out)


if __name__ == "__main__":
    run_stage(main)
