"""acoustic_train: train one variant's call detector, ResNet window classifier or framewise (dispatched; resume, DVCLive)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_train
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("variant", "variant name (acoustic.variants)"),
        variant_dir="the variant's folder (acoustic_variants)",
        corpus_index="corpus_index.json (frame labels of the framewise model)",
        out="model folder: model.pt, history.json, train_summary.json, dvclive/",
    )
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
