"""acoustic_evaluate: threshold and chain windows into detections, Raven tables, greedy + Hungarian IoU matching."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_evaluate
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("variant", "variant name (acoustic.variants)"),
        ("setting", "prediction setting (acoustic.predict.settings)"),
        predictions="the item's predictions.parquet",
        corpus_index="corpus_index.json (ground truth)",
        variant_index="the variant's variant_index.json",
        out="folder of the cnn layer (detections, tables, metrics.json)",
    )
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
