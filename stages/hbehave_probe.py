"""hbehave_probe: cross-validated linear probe (across cages) of each level's embeddings against a label."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.hbehave.stages import run_hbehave_probe

main = stage_main(run_hbehave_probe, __doc__)

if __name__ == "__main__":
    run_stage(main)
