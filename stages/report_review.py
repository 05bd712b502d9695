"""report_review: one self-contained HTML page per pipeline (metrics, figures, params, dvc.lock revision)."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.report.stages import run_report_review

main = stage_main(run_report_review, __doc__)

if __name__ == "__main__":
    run_stage(main)
