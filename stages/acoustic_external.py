"""acoustic_external: predict and evaluate a variant's tapes with an existing ANIMAL-SPOT model file."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_external
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("name", "external model (a key of acoustic.external)"),
        ("setting", "prediction setting (a key of acoustic.predict.settings)"),
        variants_dir="folder of the variants (<variant>/variant_index.json)",
        predictions="window probabilities (Parquet) to write",
        corpus_index="corpus_index.json (ground truth)",
        out="evaluation folder (detections, tables, metrics.json)",
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_external(
        cfg,
        name=args.name,
        setting=args.setting,
        variants_dir=args.variants_dir,
        predictions=args.predictions,
        corpus_index=args.corpus_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
