"""moseq_load: load keypoints (kpms.load_keypoints), float64, drop fragments and NaN-heavy sessions, kpms config."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_load


def main(argv=None):
    args = stage_args(__doc__, argv, out="keypoints.p, config.yml and load_report.json")
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_load(cfg, out=args.out)


if __name__ == "__main__":
    run_stage(main)
