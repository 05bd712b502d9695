"""moseq_load: load keypoints (kpms.load_keypoints), float64, drop fragments and NaN-heavy sessions, kpms config."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_load


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--out", required=True, help="keypoints.p, config.yml and load_report.json")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_load(cfg, out=args.out)


if __name__ == "__main__":
    run_stage(main)
