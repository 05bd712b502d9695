"""acoustic_predict: per-window call probabilities for every recording (one variant's model x one setting)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_predict
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("variant", "variant name (acoustic.variants)"),
        ("setting", "prediction setting (acoustic.predict.settings)"),
        model="the variant's model.pt",
        variant_index="the variant's variant_index.json",
        out="folder of predictions.parquet",
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_predict(
        cfg,
        variant=args.variant,
        setting=args.setting,
        model=args.model,
        variant_index=args.variant_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
