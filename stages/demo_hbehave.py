"""demo_hbehave: write seeded DVC-like home-cage activity (per-cage CSVs + summary.csv)."""

from ethoflow.core.params import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.demo.hbehave import generate
from ethoflow.hbehave.params import DemoParams


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--out", default="data/raw/hbehave/demo")
    args = parser.parse_args(argv)
    generate(load_section("hbehave.demo", DemoParams, args.params), args.out)


if __name__ == "__main__":
    run_stage(main)
