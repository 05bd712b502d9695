"""acoustic_evaluate: threshold and chain windows into detections, Raven tables, greedy + Hungarian IoU matching."""

import pandas as pd

from ethoflow.acoustic.evaluate import detect_all, evaluate_detections, ground_truth, pr_curve, write_layer
from ethoflow.acoustic.params import AcousticParams
from ethoflow.core import atomic_path, load_section, read_json
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("setting")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    cfg.variant(args.variant, args.params)
    ev, s = cfg.evaluate, cfg.setting(args.setting, args.params)
    name = f"{args.variant}-{args.setting}"
    vindex = read_json(f"data/interim/acoustic/variants/{args.variant}/variant_index.json")
    roles = vindex["tape_roles"]
    pred = pd.read_parquet(f"data/processed/acoustic/predictions/{name}/predictions.parquet")
    gt = ground_truth(read_json("data/interim/acoustic/corpus/corpus_index.json"), vindex["classes"])
    det = detect_all(pred, roles, ev.threshold, s.hop_s, ev.boundary, ev.min_gap_s, ev.min_dur_s)
    result = evaluate_detections(det, gt, roles, ev.iou)
    out = f"data/processed/acoustic/detections/{name}"
    meta = {"variant": args.variant, "setting": args.setting, "iou": ev.iou, "threshold": ev.threshold,
            "recordings": [r["recording"] for r in vindex["recordings"]]}
    write_layer(out, f"metrics/acoustic/evaluate/{name}.json", "cnn", result, meta)
    curve = pr_curve(pred, gt, roles, s.hop_s, ev.boundary, ev.min_gap_s, ev.min_dur_s, ev.iou)
    with atomic_path(f"{out}/pr_curve.csv") as tmp:
        curve.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")


if __name__ == "__main__":
    run_stage(main)
