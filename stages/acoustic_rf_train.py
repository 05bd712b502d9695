"""acoustic_rf_train: librosa features of every detection; random forest on the validation tapes' detections."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import RFTrainPaths
from ethoflow.acoustic.stages import run_acoustic_rf_train
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("variant", "variant name (acoustic.variants)"),
        ("setting", "prediction setting (acoustic.predict.settings)"),
        detections="the item's detections.parquet",
        variant_index="the variant's variant_index.json",
        corpus_index="corpus_index.json (annotated calls of the val tapes)",
        features_out="folder of features.parquet",
        model_out="folder of rf.pkl and rf_summary.json",
    )
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
