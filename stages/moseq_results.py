"""moseq_results: reindex syllables, extract results (h5 + csv), summary metrics and plots."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_results

main = stage_main(run_moseq_results, __doc__)

if __name__ == "__main__":
    run_stage(main)
