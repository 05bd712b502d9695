"""hbehave: home-cage activity -> Zarr store -> hBehaveMAE -> hierarchical embeddings -> heatmaps.

Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`), so ``import ethoflow.hbehave`` loads neither torch nor zarr.
Modules: ``store`` (the activity Zarr store), ``io`` (Digital Ventilated Cage CSV and DAM readers),
``ingest``, ``params``, ``model``, ``train``, ``pretrained`` (the authors' BehaveMAE checkpoints),
``extract``, ``plots``, ``records`` (typed training state and summary), ``stages`` (one ``run_<stage>`` per
DVC stage).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "store": (
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
    ),
    "params": ("HBehaveParams",),
    "ingest": ("build_store",),
    "io.inputs": ("read_inputs",),
    "io.ventilated_cage": ("read_ventilated_cage_csv",),
    "io.summary": ("read_summary",),
    "io.dam": ("read_dam", "DamOptions"),
    "io.dam_readings": ("parse_dam_datetime",),
    "model": ("build_model",),
    "train": ("train_model",),
    "extract": ("load_embeddings",),
    "plots": ("heatmaps", "actograms", "actogram_data", "plot_actogram"),
    "records": ("TrainSummary",),
    "stages": (
        "run_hbehave_zarr",
        "run_hbehave_actograms",
        "run_hbehave_train",
        "run_hbehave_extract",
        "run_hbehave_heatmaps",
    ),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
