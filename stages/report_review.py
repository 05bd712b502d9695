"""report_review: one self-contained HTML page per pipeline (metrics, figures, params, dvc.lock revision)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.report.params import ReportParams
from ethoflow.report.stages import run_report_review


def main(argv=None):
    args = stage_args(__doc__, argv, ("pipeline", "a pipeline named in report.pipelines"), out="the HTML page")
    cfg = load_section("report", ReportParams, args.params)
    run_report_review(cfg, pipeline=args.pipeline, out=args.out)


if __name__ == "__main__":
    run_stage(main)
