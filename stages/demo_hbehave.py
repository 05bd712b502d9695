"""demo_hbehave: write seeded Digital Ventilated Cage-like home-cage activity (per-cage CSVs + summary.csv)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.demo.hbehave import run_demo_hbehave
from ethoflow.hbehave.params import HBehaveParams


def main(argv=None):
    args = stage_args(__doc__, argv, out="folder of the demo activity files")
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_demo_hbehave(cfg, out=args.out)


if __name__ == "__main__":
    run_stage(main)
