"""hbehave: home-cage activity -> Zarr store -> hBehaveMAE -> hierarchical embeddings -> heatmaps.

Public API (light imports only; torch is imported by the model/train/extract modules on use):

- store: :class:`CageRecord`, :func:`create_store`, :func:`write_cage`, :func:`read_cage`,
  :func:`list_cages`, :func:`read_store_attrs`, :func:`update_store_attrs`, :func:`normalise`,
  :func:`read_normalisation`, :func:`read_split`, :func:`read_normalised`;
- ingest: :func:`ethoflow.hbehave.ingest.build_store`; readers in :mod:`ethoflow.hbehave.io`
  (:func:`read_dvc_csv`, :func:`read_dam`, :func:`parse_dam_datetime`);
- params: :class:`ethoflow.hbehave.params.HBehaveParams`;
- model / training / extraction / plots (imported on first use, they need torch or matplotlib):
  :func:`build_model`, :func:`train_model`, :func:`load_embeddings`, :func:`heatmaps`,
  :func:`actograms` (:func:`actogram_data` + :func:`plot_actogram` for one cage)
  (the extraction itself: :func:`ethoflow.hbehave.extract.extract`).
"""

from ethoflow.hbehave.store import (
    CageRecord,
    create_store,
    list_cages,
    normalise,
    read_cage,
    read_normalisation,
    read_normalised,
    read_split,
    read_store_attrs,
    update_store_attrs,
    write_cage,
)

_LAZY = {
    "build_store": "ethoflow.hbehave.ingest",
    "build_model": "ethoflow.hbehave.model",
    "train_model": "ethoflow.hbehave.train",
    "load_embeddings": "ethoflow.hbehave.extract",
    "heatmaps": "ethoflow.hbehave.plots",
    "actograms": "ethoflow.hbehave.plots",
    "actogram_data": "ethoflow.hbehave.plots",
    "plot_actogram": "ethoflow.hbehave.plots",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ethoflow.hbehave' has no attribute {name!r}")


__all__ = [
    "actogram_data",
    "actograms",
    "build_model",
    "build_store",
    "heatmaps",
    "load_embeddings",
    "plot_actogram",
    "train_model",
    "CageRecord",
    "create_store",
    "list_cages",
    "normalise",
    "read_cage",
    "read_normalisation",
    "read_normalised",
    "read_split",
    "read_store_attrs",
    "update_store_attrs",
    "write_cage",
]
