"""acoustic_rf_train: librosa features of every detection; random forest on the validation tapes' detections."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import RFTrainPaths
from ethoflow.acoustic.stages import run_acoustic_rf_train
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant", help="variant name (acoustic.variants)")
    parser.add_argument("setting", help="prediction setting (acoustic.predict.settings)")
    parser.add_argument("--detections", required=True, help="the item's detections.parquet")
    parser.add_argument("--variant-index", required=True, help="the variant's variant_index.json")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (annotated calls of the val tapes)")
    parser.add_argument("--features-out", required=True, help="folder of features.parquet")
    parser.add_argument("--model-out", required=True, help="folder of rf.pkl and rf_summary.json")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_rf_train(
        cfg,
        variant=args.variant,
        setting=args.setting,
        paths=RFTrainPaths(
            detections=args.detections,
            variant_index=args.variant_index,
            corpus_index=args.corpus_index,
            features_out=args.features_out,
            model_out=args.model_out,
        ),
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
