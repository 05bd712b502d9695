"""acoustic_evaluate: threshold and chain windows into detections, Raven tables, greedy + Hungarian IoU matching."""

import pandas as pd

from ethoflow.acoustic.evaluate import detect_all, evaluate_detections, ground_truth, pr_curve, write_layer
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core import atomic_path, read_json
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    ev, s, name, vindex = it.cfg.evaluate, it.setting, it.name, it.vindex
    roles = vindex["tape_roles"]
    pred = pd.read_parquet(f"data/processed/acoustic/predictions/{name}/predictions.parquet")
    gt = ground_truth(read_json("data/interim/acoustic/corpus/corpus_index.json"), vindex["classes"])
    det = detect_all(pred, roles, ev.threshold, s.hop_s, ev.boundary, ev.min_gap_s, ev.min_dur_s)
    result = evaluate_detections(det, gt, roles, ev.iou)
    out = f"data/processed/acoustic/detections/{name}"
    meta = {"variant": it.variant, "setting": it.setting_name, "iou": ev.iou, "threshold": ev.threshold,
            "recordings": [r["recording"] for r in vindex["recordings"]]}
    write_layer(out, f"metrics/acoustic/evaluate/{name}.json", "cnn", result, meta)
    curve = pr_curve(pred, gt, roles, s.hop_s, ev.boundary, ev.min_gap_s, ev.min_dur_s, ev.iou)
    with atomic_path(f"{out}/pr_curve.csv") as tmp:
        curve.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")


if __name__ == "__main__":
    run_stage(main)
