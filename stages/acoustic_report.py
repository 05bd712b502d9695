"""acoustic_report: metrics.csv, metrics_per_tape.csv, summary.json, PR curves and confusion tables (cnn vs rf)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.report import build_report
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    args = stage_parser(__doc__).parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    build_report(sorted(cfg.variants), sorted(cfg.predict.settings))


if __name__ == "__main__":
    run_stage(main)
