"""moseq_outliers: kpms outlier removal with outlier_scale_factor; QA plots under 1 MB each."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_outliers


def main(argv=None):
    args = stage_args(
        __doc__, argv, load_dir="moseq_load's folder", out="cleaned keypoints.p and config.yml", plots="QA plots folder"
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_outliers(cfg, load_dir=args.load_dir, out=args.out, plots=args.plots)


if __name__ == "__main__":
    run_stage(main)
