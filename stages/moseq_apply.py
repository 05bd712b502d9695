"""moseq_apply: apply the chosen model to a named set of new sessions (syllables, frequencies, transition graphs)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_apply

main = stage_main(run_moseq_apply, __doc__)

if __name__ == "__main__":
    run_stage(main)
