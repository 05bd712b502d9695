"""acoustic_lc: one learning-curve point: train on N seconds of training audio (one seed), evaluate held out."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_lc
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--duration", required=True, help="seconds of training audio, or all")
    parser.add_argument("--seed", required=True, type=int, help="recording order and training seed")
    parser.add_argument("--variant-dir", required=True, help="the variant's folder (acoustic_variants)")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (ground truth)")
    parser.add_argument("--out", required=True, help="the point's folder (point.json, model/, evaluation/)")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_lc(
        cfg,
        duration=args.duration,
        seed=args.seed,
        variant_dir=args.variant_dir,
        corpus_index=args.corpus_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
