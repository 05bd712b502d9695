"""moseq_outliers: kpms outlier removal with outlier_scale_factor; QA plots under 1 MB each."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_outliers

main = stage_main(run_moseq_outliers, __doc__)

if __name__ == "__main__":
    run_stage(main)
