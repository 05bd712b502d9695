"""acoustic_rf_train: librosa features of every detection; random forest on the training tapes' detections."""

from ethoflow import dispatch
from ethoflow.acoustic.rf import rf_train_item
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    models = f"models/acoustic/rf/{it.name}"
    dispatch.run(
        rf_train_item,
        it,
        f"data/processed/acoustic/detections/{it.name}/detections.parquet",
        f"data/processed/acoustic/rf_features/{it.name}/features.parquet",
        f"{models}/rf.pkl",
        f"{models}/rf_summary.json",
        stage=f"acoustic_rf_train@{it.name}",
        params_path=it.params,
    )


if __name__ == "__main__":
    run_stage(main)
