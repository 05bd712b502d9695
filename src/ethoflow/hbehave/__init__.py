"""hbehave: home-cage activity -> Zarr store -> hBehaveMAE -> hierarchical embeddings -> heatmaps."""

from ethoflow.hbehave.store import CageRecord, list_cages, normalise, read_cage, read_store_attrs

__all__ = ["CageRecord", "list_cages", "normalise", "read_cage", "read_store_attrs"]
