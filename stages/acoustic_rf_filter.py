"""acoustic_rf_filter: keep the detections the random forest accepts; tables and metrics of the `rf` layer."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import RFFilterPaths
from ethoflow.acoustic.stages import run_acoustic_rf_filter
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("variant", "variant name (acoustic.variants)"),
        ("setting", "prediction setting (acoustic.predict.settings)"),
        detections="the item's detections.parquet",
        features="the item's features.parquet",
        model="the item's rf.pkl",
        corpus_index="corpus_index.json (ground truth)",
        variant_index="the variant's variant_index.json",
        out="folder of the rf layer",
    )
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
