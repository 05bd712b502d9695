"""Finch benchmark: CNN bout detection F1 at IoU 0.4 on held-out tapes (BirdsongRecognition Bird0).

Notes are merged into song bouts (``merge_gap_s``), every Wave file is one tape, tapes are split
tape-exclusively (60/20/20), ResNet-18 (width 64) is trained with the default recipe (up to 30 epochs,
early stopping), and the held-out (test) tapes are predicted and evaluated (Hungarian and greedy
matching at IoU 0.4). Prints the metrics table; the whole pipeline output stays in ``--workdir``.

    PYTHONPATH=src python benchmarks/acoustic_finch_f1.py --workdir /tmp/finch_bench
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def finch_params(data: Path, epochs: int, base_width: int, seed: int, threads: int = 1) -> dict:
    return {"acoustic": {
        "corpus": {
            "data_dir": str(data),
            "sources": [{"name": "finch", "format": "birdsong-recognition-dataset",
                         "annotations": str(data / "Bird0" / "Annotation.xml"), "audio_dir": str(data / "Bird0" / "Wave")}],
            "unmapped": "target", "label_map": {}, "merge_gap_s": 0.3, "on_error": "skip"},
        "variants": {"finch": {"split": "tape_exclusive", "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},
                               "seed": seed, "noise_per_target": 2.0, "margin_s": 0.1}},
        "features": {"sr": 32000, "fmin": 0.0, "fmax": 8000.0},
        "train": {"epochs": epochs, "base_width": base_width, "seed": seed, "early_stopping_patience_epochs": 8,
                  "num_threads": threads},
        "predict": {"settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.1}}, "num_threads": threads},
        "evaluate": {"threshold": 0.5, "min_gap_s": 0.3, "min_dur_s": 0.1, "iou": 0.4},
        "rf": {"fmax": 8000.0, "n_estimators": 200},
    }}


def main() -> None:
    from ethoflow.acoustic.pipeline import run_pipeline
    from ethoflow.core import setup_logging

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/ethoflow_finch_bench")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "audio" / "birdsongrec"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--until", default="report")
    args = ap.parse_args()
    setup_logging()
    wd = Path(args.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "dvc.yaml").write_text("stages: {}\n")  # marks the project root for ethoflow's state folder
    params = finch_params(Path(args.data).resolve(), args.epochs, args.base_width, args.seed, args.threads)
    (wd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    t0 = time.time()
    run_pipeline(wd, until=args.until)
    print(f"pipeline wall time: {time.time() - t0:.0f} s")
    vi = json.loads((wd / "data/interim/acoustic/variants/finch/variant_index.json").read_text())
    print("held-out tapes:", [t for t, r in vi["tape_roles"].items() if r == "test"])
    print("train summary:", (wd / "metrics/acoustic/train/finch.json").read_text())
    if (wd / "metrics/acoustic/metrics.csv").exists():
        import pandas as pd

        m = pd.read_csv(wd / "metrics/acoustic/metrics.csv")
        print(m[m.group == "heldout"].to_string(index=False))
    else:
        print((wd / "metrics/acoustic/evaluate/finch-default.json").read_text())


if __name__ == "__main__":
    main()
