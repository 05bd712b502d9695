"""acoustic_train: train one variant's call detector, ResNet window classifier or framewise (dispatched; resume, DVCLive)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_train
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant", help="variant name (acoustic.variants)")
    parser.add_argument("--variant-dir", required=True, help="the variant's folder (acoustic_variants)")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (frame labels of the framewise model)")
    parser.add_argument(
        "--out", required=True, help="model folder: model.pt, history.json, train_summary.json, dvclive/"
    )
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_train(
        cfg,
        variant=args.variant,
        variant_dir=args.variant_dir,
        corpus_index=args.corpus_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
