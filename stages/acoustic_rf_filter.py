"""acoustic_rf_filter: keep the detections the random forest accepts; tables and metrics of the `rf` layer."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import RFFilterPaths
from ethoflow.acoustic.stages import run_acoustic_rf_filter
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant", help="variant name (acoustic.variants)")
    parser.add_argument("setting", help="prediction setting (acoustic.predict.settings)")
    parser.add_argument("--detections", required=True, help="the item's detections.parquet")
    parser.add_argument("--features", required=True, help="the item's features.parquet")
    parser.add_argument("--model", required=True, help="the item's rf.pkl")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (ground truth)")
    parser.add_argument("--variant-index", required=True, help="the variant's variant_index.json")
    parser.add_argument("--out", required=True, help="folder of the rf layer")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_rf_filter(
        cfg,
        variant=args.variant,
        setting=args.setting,
        paths=RFFilterPaths(
            detections=args.detections,
            features=args.features,
            model=args.model,
            corpus_index=args.corpus_index,
            variant_index=args.variant_index,
            out=args.out,
        ),
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
