"""acoustic_variants: build one variant's train/val/test segments, noise mining and selection tables."""

from ethoflow.acoustic.stages import run_acoustic_variants
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_variants, __doc__)

if __name__ == "__main__":
    run_stage(main)
