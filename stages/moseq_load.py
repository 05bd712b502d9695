"""moseq_load: load keypoints (kpms.load_keypoints), float64, drop fragments and NaN-heavy sessions, kpms config."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_load

main = stage_main(run_moseq_load, __doc__)

if __name__ == "__main__":
    run_stage(main)
