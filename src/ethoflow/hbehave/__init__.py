"""hbehave: home-cage activity -> Zarr store -> hBehaveMAE -> hierarchical embeddings -> heatmaps.

Public API (light imports only; torch is imported by the model/train/extract modules on use):

- store: :class:`CageRecord`, :func:`create_store`, :func:`write_cage`, :func:`read_cage`,
  :func:`list_cages`, :func:`read_store_attrs`, :func:`update_store_attrs`, :func:`normalise`,
  :func:`read_normalisation`, :func:`read_split`, :func:`read_normalised`;
- ingest: :func:`ethoflow.hbehave.ingest.build_store`; readers in :mod:`ethoflow.hbehave.io`
  (:func:`read_dvc_csv`, :func:`read_dam`, :func:`parse_dam_datetime`);
- params: :class:`ethoflow.hbehave.params.HBehaveParams`.
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

__all__ = [
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
