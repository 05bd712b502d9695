"""acoustic_rf_train: librosa features of every detection; random forest on the training tapes' detections."""

import pandas as pd

from ethoflow.acoustic.features import detection_features
from ethoflow.acoustic.rf import TRAIN_ROLES, fit_filter, save_filter
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core import atomic_path, write_json
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    cfg, name = it.cfg, it.name
    files = {r["recording"]: r["file"] for r in it.vindex["recordings"]}
    det = pd.read_parquet(f"data/processed/acoustic/detections/{name}/detections.parquet")
    X = detection_features(det, files, cfg.rf)
    with atomic_path(f"data/processed/acoustic/rf_features/{name}/features.parquet") as tmp:
        X.to_parquet(tmp, index=False)
    train = det.role.isin(TRAIN_ROLES).to_numpy()
    y = (det.gt_hungarian != "").to_numpy(int)
    model, thr, stats = fit_filter(X[train].reset_index(drop=True), y[train], det.tape[train].to_numpy(), cfg.rf)
    save_filter(f"models/acoustic/rf/{name}/rf.pkl", model, thr, list(X.columns), stats)
    write_json(f"models/acoustic/rf/{name}/rf_summary.json", stats)


if __name__ == "__main__":
    run_stage(main)
