"""moseq_groups: syllable usage, duration and transitions compared between groups (keypoint-moseq's Kruskal-Wallis + FDR)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_groups

main = stage_main(run_moseq_groups, __doc__)

if __name__ == "__main__":
    run_stage(main)
