"""acoustic_variants: build one variant's train/val/test segments, noise mining and selection tables."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_variants
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("variant", "variant name (acoustic.variants)"),
        corpus_index="corpus_index.json",
        out="the variant's folder",
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_variants(
        cfg, variant=args.variant, corpus_index=args.corpus_index, out=args.out, params_path=args.params
    )


if __name__ == "__main__":
    run_stage(main)
