"""acoustic_variants: build one variant's train/val/test segments, noise mining and selection tables."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_variants
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant", help="variant name (acoustic.variants)")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json")
    parser.add_argument("--out", required=True, help="the variant's folder")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_variants(
        cfg, variant=args.variant, corpus_index=args.corpus_index, out=args.out, params_path=args.params
    )


if __name__ == "__main__":
    run_stage(main)
