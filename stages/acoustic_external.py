"""acoustic_external: predict and evaluate a variant's tapes with an existing ANIMAL-SPOT model file."""

from ethoflow.acoustic.stages import run_acoustic_external
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_external, __doc__)

if __name__ == "__main__":
    run_stage(main)
