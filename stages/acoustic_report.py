"""acoustic_report: headline metrics (cnn vs rf), metrics.csv, metrics_per_tape.csv, PR curves, confusion tables, plot data."""

from ethoflow import dispatch
from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.report import build_report
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--metrics", default="metrics/acoustic.json", help="headline metrics (numbers only)")
    parser.add_argument("--reports", default="reports/acoustic", help="folder of the tables, figures and plot data")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    dispatch.run(
        build_report,
        sorted(cfg.variants),
        sorted(cfg.predict.settings),
        args.metrics,
        args.reports,
        detect_sets=sorted(cfg.detect.sets),
        external={k: e.variant for k, e in cfg.external.items()},
        stage="acoustic_report",
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
