"""acoustic_lc: one learning-curve point: train on N seconds of training audio (one seed), evaluate held out."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_lc
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        duration="seconds of training audio, or all",
        seed={"type": int, "help": "recording order and training seed"},
        variant_dir="the variant's folder (acoustic_variants)",
        corpus_index="corpus_index.json (ground truth)",
        out="the point's folder (point.json, model/, evaluation/)",
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_lc(
        cfg,
        duration=args.duration,
        seed=args.seed,
        variant_dir=args.variant_dir,
        corpus_index=args.corpus_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
