"""moseq_outliers: kpms.outlier_removal with outlier_scale_factor; QA plots under 1 MB each."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.prepare import outliers


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--load-dir", default="data/interim/moseq/load")
    parser.add_argument("--out", default="data/interim/moseq/outliers")
    parser.add_argument("--plots", default="reports/moseq/outliers")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    outliers(cfg, args.load_dir, args.out, args.plots)


if __name__ == "__main__":
    run_stage(main)
