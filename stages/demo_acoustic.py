"""demo_acoustic: write seeded synthetic tapes (WAV + Raven selection tables) for the acoustic demo."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.demo.acoustic import generate, generate_heldout


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--out", default="data/raw/acoustic/demo")
    parser.add_argument("--heldout", default=None, help="folder of the detection demo's held-out tape and its truth")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    generate(args.out, cfg.demo)
    if args.heldout:
        generate_heldout(args.heldout, cfg.demo)


if __name__ == "__main__":
    run_stage(main)
