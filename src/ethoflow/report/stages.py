"""Stage functions of the report package."""

from __future__ import annotations

import os
from pathlib import Path

from ethoflow.report.params import ReportParams


def run_report_review(
    cfg: ReportParams, *, pipeline: str, out: str | os.PathLike, root: str | os.PathLike = "."
) -> Path:
    """``report_review@<pipeline>``: the pipeline's self-contained review page ``out``
    (:func:`ethoflow.report.page.write_page`), opened by ``ethoflow report open <pipeline>``.

    Args:
        pipeline: a pipeline named in report.pipelines.
        out: the HTML page.
        root: the project folder holding dvc.yaml, params.yaml and the outputs (default: the working folder).
    """
    # local: keeps ethoflow.report.stages importable without yaml
    from ethoflow.report.page import write_page

    return write_page(root, pipeline, out, cfg.max_images_per_plot)
