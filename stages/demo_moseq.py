"""demo_moseq: write seeded synthetic pose tracks (DeepLabCut .h5) for training and held-back sessions."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.demo.moseq import run_demo_moseq
from ethoflow.moseq.params import MoseqParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--out", required=True, help="folder of the demo pose files")
    parser.add_argument("--heldout-out", required=True, help="folder of the held-back sessions (moseq_apply)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_demo_moseq(cfg, out=args.out, heldout_out=args.heldout_out)


if __name__ == "__main__":
    run_stage(main)
