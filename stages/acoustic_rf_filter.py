"""acoustic_rf_filter: keep the detections the random forest accepts; tables and metrics of the `rf` layer."""

from ethoflow import dispatch
from ethoflow.acoustic.rf import rf_filter_item
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    out = f"data/processed/acoustic/filtered/{it.name}"
    dispatch.run(
        rf_filter_item,
        it,
        f"data/processed/acoustic/detections/{it.name}/detections.parquet",
        f"data/processed/acoustic/rf_features/{it.name}/features.parquet",
        f"models/acoustic/rf/{it.name}/rf.pkl",
        "data/interim/acoustic/corpus/corpus_index.json",
        out,
        f"{out}/metrics.json",
        stage=f"acoustic_rf_filter@{it.name}",
        params_path=it.params,
    )


if __name__ == "__main__":
    run_stage(main)
