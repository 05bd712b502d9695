"""acoustic_rf_filter: keep the detections the random forest accepts; tables and metrics of the `rf` layer."""

import pandas as pd

from ethoflow.acoustic.evaluate import evaluate_detections, ground_truth, write_layer
from ethoflow.acoustic.rf import load_filter, rf_curve, rf_probabilities
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core import atomic_path, read_json
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    cfg, name, vindex = it.cfg, it.name, it.vindex
    det = pd.read_parquet(f"data/processed/acoustic/detections/{name}/detections.parquet")
    X = pd.read_parquet(f"data/processed/acoustic/rf_features/{name}/features.parquet")
    flt = load_filter(f"models/acoustic/rf/{name}/rf.pkl")
    det["rf_prob"] = rf_probabilities(flt, X)
    gt = ground_truth(read_json("data/interim/acoustic/corpus/corpus_index.json"), vindex["classes"])
    kept = det[det.rf_prob >= flt["threshold"]].drop(columns=["gt_greedy", "gt_hungarian", "iou_hungarian"])
    result = evaluate_detections(kept.reset_index(drop=True), gt, vindex["tape_roles"], cfg.evaluate.iou)
    out = f"data/processed/acoustic/filtered/{name}"
    meta = {"variant": it.variant, "setting": it.setting_name, "iou": cfg.evaluate.iou,
            "rf_threshold": flt["threshold"], "recordings": [r["recording"] for r in vindex["recordings"]]}
    write_layer(out, f"metrics/acoustic/rf/{name}.json", "rf", result, meta)
    with atomic_path(f"{out}/pr_curve.csv") as tmp:
        rf_curve(det, gt, vindex["tape_roles"]).to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")


if __name__ == "__main__":
    run_stage(main)
