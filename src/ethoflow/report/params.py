"""The ``report`` section of ``params.yaml``: the review pages (stage ``report_review@<pipeline>``)."""

from __future__ import annotations

from pydantic import Field

from ethoflow.core.params import StrictModel


class ReportParams(StrictModel):
    """Review pages.

    Attributes:
        pipelines: one page per entry (a ``params.yaml`` section with ``metrics/<name>.json``);
            dvc.yaml runs ``report_review@<name>`` for each.
        max_images_per_plot: images shown per folder plot (hbehave draws dozens of heatmaps); the rest
            are listed as not shown (``dvc plots show`` has them all).
    """

    pipelines: list[str] = Field(default_factory=lambda: ["acoustic", "moseq", "hbehave", "vae"])
    max_images_per_plot: int = Field(8, ge=1)
