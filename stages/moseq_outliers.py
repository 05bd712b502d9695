"""moseq_outliers: kpms outlier removal with outlier_scale_factor; QA plots under 1 MB each."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_outliers


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--load-dir", required=True, help="moseq_load's folder")
    parser.add_argument("--out", required=True, help="cleaned keypoints.p and config.yml")
    parser.add_argument("--plots", required=True, help="QA plots folder")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_outliers(cfg, load_dir=args.load_dir, out=args.out, plots=args.plots)


if __name__ == "__main__":
    run_stage(main)
