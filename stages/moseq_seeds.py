"""moseq_seeds: fit the final model from n_seeds seeds (a job array), keep the highest EML; EML and confusion figures."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_seeds

main = stage_main(run_moseq_seeds, __doc__)

if __name__ == "__main__":
    run_stage(main)
