"""acoustic_evaluate: threshold and chain windows into detections, Raven tables, greedy + Hungarian IoU matching."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_evaluate
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant", help="variant name (acoustic.variants)")
    parser.add_argument("setting", help="prediction setting (acoustic.predict.settings)")
    parser.add_argument("--predictions", required=True, help="the item's predictions.parquet")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (ground truth)")
    parser.add_argument("--variant-index", required=True, help="the variant's variant_index.json")
    parser.add_argument("--out", required=True, help="folder of the cnn layer (detections, tables, metrics.json)")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_evaluate(
        cfg,
        variant=args.variant,
        setting=args.setting,
        predictions=args.predictions,
        corpus_index=args.corpus_index,
        variant_index=args.variant_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
