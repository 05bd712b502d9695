"""Finch benchmark: bout detection F1 at IoU 0.4 on held-out tapes (BirdsongRecognition Bird0).

Notes are merged into song bouts (``merge_gap_s`` 0.3 s), every Wave file is one tape, tapes are
split tape-exclusively (60/20/20) once per ``--seeds`` value (one DVC-style variant each), the model
is trained with the default recipe (up to 30 epochs, early stopping): ResNet-18 (width 64) for
``--arch resnet``, the framewise detector for ``--arch framewise``, both on the same splits for
``--arch both`` (variants ``seed<N>`` and ``fw<N>``). The held-out (test) tapes are predicted and
evaluated (Hungarian and greedy matching at IoU 0.4). The window threshold and the clean-up
(``min_gap_s``, ``min_dur_s``) are ``auto``: chosen per variant on its validation tapes (``--fixed`` uses
0.5 / 0.3 s / 0.1 s as before); the RF filter learns from the validation tapes' detections. Prints the
per-split metrics, and per architecture the F1 pooled over splits, the onset/offset errors (mean and
median absolute, ms, of the matched bouts) and the post-processing chosen per split; the pipeline
output stays in ``--workdir``. ``--start evaluate`` reruns from evaluation on a workdir whose models and
predictions a previous run left (same params otherwise).

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
    data: Path,
    epochs: int,
    base_width: int,
    seeds: list[int],
    threads: int = 1,
    arch: str = "resnet",
    fixed: bool = False,
    hop_s: float = 0.1,
) -> dict:
    post = (
        {"threshold": 0.5, "min_gap_s": 0.3, "min_dur_s": 0.1}
        if fixed
        else {"threshold": "auto", "min_gap_s": "auto", "min_dur_s": "auto"}
    )
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
            "predict": {"settings": {"default": {"seq_len_s": 0.4, "hop_s": hop_s}}, "num_threads": threads},
            "evaluate": {**post, "iou": 0.4},
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
    ap.add_argument("--fixed", action="store_true", help="threshold 0.5, min_gap_s 0.3, min_dur_s 0.1 (not auto)")
    ap.add_argument("--start", default="corpus", help="first stage (evaluate: reuse the workdir's models)")
    ap.add_argument("--hop", type=float, default=0.1, help="prediction hop (s): windows / framewise cells")
    args = ap.parse_args()
    setup_logging()
    wd = Path(args.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "dvc.yaml").write_text("stages: {}\n")  # marks the project root for ethoflow's state folder
    params = finch_params(
        Path(args.data).resolve(),
        args.epochs,
        args.base_width,
        args.seeds,
        args.threads,
        args.arch,
        args.fixed,
        args.hop,
    )
    (wd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    t0 = time.time()
    run_pipeline(wd, until=args.until, start=args.start)
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
    errors = matched_errors(wd, list(params["acoustic"]["variants"]))
    for c in ("onset", "offset"):
        pooled[f"{c}_median_ms"] = (
            errors.groupby(["arch", "layer"])[f"{c}_ms"].median().reindex(pooled.index.droplevel("method")).to_numpy()
        )
    print(f"\npooled over {len(args.seeds)} tape split(s), IoU 0.4, held-out tapes only (start/end_offset_ms:")
    print("mean absolute error of the matched bouts' start/end, ms; onset/offset_median_ms: the median):")
    print(pooled.to_string())
    print("\npost-processing chosen on each split's validation tapes (RF: trained on their detections):")
    for name in params["acoustic"]["variants"]:
        cnn = json.loads((wd / f"data/processed/acoustic/detections/{name}-default/metrics.json").read_text())
        rf = json.loads((wd / f"models/acoustic/rf/{name}-default/rf_summary.json").read_text())
        c = cnn["chosen"]
        print(
            f"{name}: threshold {c['threshold']:g}, min_gap_s {c['min_gap_s']:g}, min_dur_s {c['min_dur_s']:g}, "
            f"val F1 {c.get('val_f1', float('nan')):.3f}; RF learned from {rf['n_pos']} pos / {rf['n_neg']} neg, "
            f"pass-through {int(rf.get('pass_through', False))}, threshold {rf['threshold']:.3f}"
        )


def matched_errors(wd: Path, variants: list[str]):
    """|onset| and |offset| errors (ms) of every matched held-out bout (Hungarian), per arch and layer."""
    import pandas as pd

    events = {
        e["uid"]: e for e in json.loads((wd / "data/interim/acoustic/corpus/corpus_index.json").read_text())["events"]
    }
    rows = []
    for name in variants:
        arch = VARIANT_PREFIX[name.rstrip("0123456789")]
        for layer, folder in (("cnn", "detections"), ("rf", "filtered")):
            det = pd.read_parquet(wd / f"data/processed/acoustic/{folder}/{name}-default/detections.parquet")
            det = det[det.role.isin(["test", "benchmark"]) & (det.gt_hungarian != "")]
            for uid, s, e in zip(det.gt_hungarian, det.start_s, det.end_s):
                g = events[uid]
                rows.append(
                    {
                        "arch": arch,
                        "layer": layer,
                        "onset_ms": abs(s - g["start_s"]) * 1000,
                        "offset_ms": abs(e - g["end_s"]) * 1000,
                    }
                )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
