"""Review pages: offline Vega scripts for ``dvc plots show`` and one self-contained HTML page per pipeline."""
