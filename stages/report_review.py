"""report_review: one self-contained HTML page per pipeline (metrics, figures, params, dvc.lock revision)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.report.params import ReportParams
from ethoflow.report.stages import run_report_review


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("pipeline", help="a pipeline named in report.pipelines")
    parser.add_argument("--out", required=True, help="the HTML page")
    args = parser.parse_args(argv)
    cfg = load_section("report", ReportParams, args.params)
    run_report_review(cfg, pipeline=args.pipeline, out=args.out)


if __name__ == "__main__":
    run_stage(main)
