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
    "CageRecord": "ethoflow.hbehave.store",
    "create_store": "ethoflow.hbehave.store",
    "list_cages": "ethoflow.hbehave.store",
    "normalise": "ethoflow.hbehave.store",
    "read_cage": "ethoflow.hbehave.store",
    "read_normalisation": "ethoflow.hbehave.store",
    "read_normalised": "ethoflow.hbehave.store",
    "read_split": "ethoflow.hbehave.store",
    "read_store_attrs": "ethoflow.hbehave.store",
    "update_store_attrs": "ethoflow.hbehave.store",
    "write_cage": "ethoflow.hbehave.store",
    "HBehaveParams": "ethoflow.hbehave.params",
    "build_store": "ethoflow.hbehave.ingest",
    "read_inputs": "ethoflow.hbehave.io.inputs",
    "read_ventilated_cage_csv": "ethoflow.hbehave.io.ventilated_cage",
    "read_summary": "ethoflow.hbehave.io.summary",
    "read_dam": "ethoflow.hbehave.io.dam",
    "DamOptions": "ethoflow.hbehave.io.dam",
    "parse_dam_datetime": "ethoflow.hbehave.io.dam_readings",
    "build_model": "ethoflow.hbehave.model",
    "train_model": "ethoflow.hbehave.train",
    "load_embeddings": "ethoflow.hbehave.extract",
    "heatmaps": "ethoflow.hbehave.plots",
    "actograms": "ethoflow.hbehave.plots",
    "actogram_data": "ethoflow.hbehave.plots",
    "plot_actogram": "ethoflow.hbehave.plots",
    "TrainSummary": "ethoflow.hbehave.records",
    "run_hbehave_zarr": "ethoflow.hbehave.stages",
    "run_hbehave_actograms": "ethoflow.hbehave.stages",
    "run_hbehave_train": "ethoflow.hbehave.stages",
    "run_hbehave_extract": "ethoflow.hbehave.stages",
    "run_hbehave_heatmaps": "ethoflow.hbehave.stages",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
