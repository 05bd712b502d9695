"""Finch benchmark: bout detection F1 at IoU 0.4 on held-out tapes (BirdsongRecognition Bird0).

Notes are merged into song bouts (``merge_gap_s`` 0.3 s), every Wave file is one tape, tapes are
split tape-exclusively (60/20/20) once per ``--seeds`` value (one DVC-style variant each), the model
is trained with the default recipe (up to 30 epochs, early stopping): ResNet-18 (width 64) for
``--arch resnet``, the framewise detector for ``--arch framewise``, both on the same splits for
``--arch both`` (variants ``seed<N>`` and ``fw<N>``). The held-out (test) tapes are predicted and
evaluated (Hungarian and greedy matching at IoU 0.4). Prints the per-split metrics, and per
architecture the F1 pooled over splits and the onset/offset errors (ms); the pipeline output stays
in ``--workdir``.

    PYTHONPATH=src nice python benchmarks/acoustic_finch_f1.py --workdir /tmp/finch_bench --seeds 0 1 2 --arch both
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VARIANT_PREFIX = {"seed": "resnet", "fw": "framewise"}  # variant name prefix -> architecture


def finch_params(
    data: Path, epochs: int, base_width: int, seeds: list[int], threads: int = 1, arch: str = "resnet"
) -> dict:
    return {
        "acoustic": {
            "corpus": {
                "data_dir": str(data),
                "sources": [
                    {
                        "name": "finch",
                        "format": "birdsong-recognition-dataset",
                        "annotations": str(data / "Bird0" / "Annotation.xml"),
                        "audio_dir": str(data / "Bird0" / "Wave"),
                    }
                ],
                "unmapped": "target",
                "label_map": {},
                "merge_gap_s": 0.3,
                "on_error": "skip",
            },
            "variants": {
                f"{prefix}{seed}": {
                    "split": "tape_exclusive",
                    "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},
                    "seed": seed,
                    "noise_per_target": 2.0,
                    "margin_s": 0.1,
                    "arch": a,
                }
                for seed in seeds
                for prefix, a in VARIANT_PREFIX.items()
                if arch in (a, "both")
            },
            "features": {"sr": 32000, "fmin": 0.0, "fmax": 8000.0},
            "train": {
                "epochs": epochs,
                "base_width": base_width,
                "seed": 0,
                "early_stopping_patience_epochs": 8,
                "num_threads": threads,
            },
            "predict": {"settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.1}}, "num_threads": threads},
            "evaluate": {"threshold": 0.5, "min_gap_s": 0.3, "min_dur_s": 0.1, "iou": 0.4},
            "rf": {"fmax": 8000.0, "n_estimators": 200},
        }
    }


def main() -> None:
    from ethoflow.acoustic.pipeline import run_pipeline
    from ethoflow.core import setup_logging

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/ethoflow_finch_bench")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "audio" / "birdsongrec"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one variant (tape split) per seed")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--until", default="report")
    ap.add_argument("--arch", choices=["resnet", "framewise", "both"], default="resnet")
    args = ap.parse_args()
    setup_logging()
    wd = Path(args.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "dvc.yaml").write_text("stages: {}\n")  # marks the project root for ethoflow's state folder
    params = finch_params(Path(args.data).resolve(), args.epochs, args.base_width, args.seeds, args.threads, args.arch)
    (wd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    t0 = time.time()
    run_pipeline(wd, until=args.until)
    print(f"pipeline wall time: {time.time() - t0:.0f} s")
    import pandas as pd

    for name in params["acoustic"]["variants"]:
        vi = json.loads((wd / f"data/interim/acoustic/variants/{name}/variant_index.json").read_text())
        tr = json.loads((wd / f"models/acoustic/{name}/train_summary.json").read_text())
        print(
            f"{name}: held-out tapes {sorted(t for t, r in vi['tape_roles'].items() if r == 'test')}, "
            f"best epoch {tr['best_epoch']} of {tr['epochs_run']}"
        )
    m = pd.read_csv(wd / "reports/acoustic/metrics.csv")
    held = m[m.group == "heldout"].copy()
    print(held.to_string(index=False))
    held["arch"] = held.model.str.extract(r"^([a-z]+)\d", expand=False).map(VARIANT_PREFIX)
    pooled = held.groupby(["arch", "layer", "method"])[["n_gt", "n_pred", "tp", "fp", "fn"]].sum()
    pooled["precision"] = pooled.tp / (pooled.tp + pooled.fp)
    pooled["recall"] = pooled.tp / (pooled.tp + pooled.fn)
    pooled["f1"] = 2 * pooled.precision * pooled.recall / (pooled.precision + pooled.recall)
    for c in ("start_offset_ms", "end_offset_ms"):  # mean |error| of matched bouts, weighted by matches
        held[c] = pd.to_numeric(held[c], errors="coerce") * held.tp
        pooled[c] = held.groupby(["arch", "layer", "method"])[c].sum() / pooled.tp
    print(f"\npooled over {len(args.seeds)} tape split(s), IoU 0.4, held-out tapes only (onset/offset:")
    print("mean absolute error of the matched bouts' start/end, ms):")
    print(pooled.to_string())


if __name__ == "__main__":
    main()
