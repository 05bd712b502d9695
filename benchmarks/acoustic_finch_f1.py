"""Finch benchmark: bout detection F1 at IoU 0.4 on held-out tapes (BirdsongRecognition Bird0), with
``auto`` post-processing against the fixed defaults, and detection on tapes the corpus never saw.

The recipe, as a lab would run it:

- **Corpus**: ``Wave/0.wav`` ... ``Wave/<n_corpus - 1>.wav`` with ``Annotation.xml`` (notes merged into song
  bouts at ``merge_gap_s`` 0.3 s); every Wave file is one tape. The remaining files (32-39 by default) are
  the lab's **new, unannotated tapes**: they never enter the corpus.
- **Splits and seeds**: one tape-exclusive split (60/20/20) per ``--seeds`` value, each trained once per
  ``--train-seeds`` value (``acoustic.train.seed``; one workdir ``train<seed>`` each), for ``--arch``
  ``resnet`` (ResNet-18, width 64), ``framewise`` or ``both`` (variants ``seed<N>`` and ``fw<N>``); up to
  30 epochs with early stopping.
- **Post-processing modes**, all from the same window predictions of each model: ``fixed`` (threshold
  0.5, min_gap_s 0.3, min_dur_s 0.1: the finch defaults), ``auto`` (threshold/min_gap_s/min_dur_s chosen
  on the variant's validation tapes by the mean F1 over tapes with the one-standard-error rule toward
  the defaults and a fall-back under ``min_val_events`` (20): what the pipeline runs), ``auto_se`` (the
  same without the fall-back), ``auto_best`` (the best mean, no shrinkage, no fall-back: close to the
  previous rule) and ``auto_boutgap`` (``auto_se`` with ``min_bout_gap_s`` 0.3: finch bouts are at least
  0.3 s apart by construction).
- **Scores**: Hungarian matching at IoU 0.4 on each split's held-out test tapes, pooled over splits and
  seeds, the spread (mean, sd, min) of the per-model F1 and the paired ``auto - fixed`` difference;
  ``split`` counts annotated bouts overlapped by two or more detections (a bout split in two),
  ``merged`` detections overlapping two or more bouts.
- **Detect** (step ``detect``): ``acoustic_detect`` with each model (``threshold: null``, i.e. the
  pipeline's ``auto`` values) on the new tapes, scored against their bouts in ``Annotation.xml`` through the
  detection set's ``truth``; pooled the same way.

Steps (``--start`` / ``--until``): corpus, variants, train, predict, evaluate, rf_train, rf_filter, detect,
report (the RF steps run only with ``--rf``); the summary prints what the finished steps allow.
Results go to ``<workdir>/train<seed>/results.json`` next to that seed's pipeline outputs; the tables
pool every ``train*/results.json`` of the workdir (so training seeds may run as parallel processes).

    PYTHONPATH=src nice -n 15 python benchmarks/acoustic_finch_f1.py --workdir /tmp/finch_bench \\
        --seeds 0 1 2 3 4 5 --train-seeds 0 1 2 --arch both
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
VARIANT_PREFIX = {"seed": "resnet", "fw": "framewise"}  # variant name prefix -> architecture
DEFAULTS = {"threshold": 0.5, "min_gap_s": 0.3, "min_dur_s": 0.1}  # the finch defaults
AUTO = {"threshold": "auto", "min_gap_s": "auto", "min_dur_s": "auto"}
MODES = {
    "fixed": DEFAULTS,
    "auto": {**AUTO, "defaults": DEFAULTS},
    "auto_se": {**AUTO, "defaults": DEFAULTS, "min_val_events": 0},
    "auto_best": {**AUTO, "defaults": DEFAULTS, "tolerance_se": 0.0, "min_val_events": 0},
    "auto_boutgap": {**AUTO, "defaults": DEFAULTS, "min_val_events": 0, "min_bout_gap_s": 0.3},
}
BOUT_GAP_S = 0.3


def prepare_data(src: Path, wd: Path, n_corpus: int) -> tuple[Path, Path]:
    """Copy the corpus tapes (``Wave/0..n_corpus-1``) and ``Annotation.xml`` to ``wd/finch`` and the rest
    (the new tapes) to ``wd/new``; returns (corpus folder, new-tapes folder)."""
    corpus, new = wd / "finch", wd / "new"
    if not (corpus / "Annotation.xml").is_file():
        (corpus / "Wave").mkdir(parents=True, exist_ok=True)
        new.mkdir(parents=True, exist_ok=True)
        for f in sorted((src / "Wave").glob("*.wav"), key=lambda p: int(p.stem)):
            shutil.copy2(f, (corpus / "Wave" if int(f.stem) < n_corpus else new) / f.name)
        shutil.copy2(src / "Annotation.xml", corpus / "Annotation.xml")
    return corpus, new


def finch_params(
    data: Path,
    epochs: int,
    base_width: int,
    seeds: list[int],
    threads: int = 1,
    arch: str = "resnet",
    fixed: bool = False,
    hop_s: float = 0.1,
    train_seed: int = 0,
    new_tapes: Path | None = None,
    truth: Path | None = None,
    patience: int = 8,
) -> dict:
    """The benchmark's ``params.yaml`` (``acoustic`` section): corpus in ``data`` (``Annotation.xml``,
    ``Wave/``), one variant per split seed and architecture, and, with ``new_tapes``, one detection set
    per variant on them scored against ``truth`` (``Annotation.xml``)."""
    variants = [f"{prefix}{seed}" for seed in seeds for prefix, a in VARIANT_PREFIX.items() if arch in (a, "both")]
    return {
        "acoustic": {
            "corpus": {
                "data_dir": str(data),
                "sources": [
                    {
                        "name": "finch",
                        "format": "birdsong-recognition-dataset",
                        "annotations": str(data / "Annotation.xml"),
                        "audio_dir": str(data / "Wave"),
                    }
                ],
                "unmapped": "target",
                "label_map": {},
                "merge_gap_s": BOUT_GAP_S,
                "on_error": "skip",
            },
            "variants": {
                name: {
                    "split": "tape_exclusive",
                    "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},
                    "seed": int(name.lstrip("sedfw")),
                    "noise_per_target": 2.0,
                    "margin_s": 0.1,
                    "arch": VARIANT_PREFIX[name.rstrip("0123456789")],
                }
                for name in variants
            },
            "features": {"sr": 32000, "fmin": 0.0, "fmax": 8000.0},
            "train": {
                "epochs": epochs,
                "base_width": base_width,
                "seed": train_seed,
                "early_stopping_patience_epochs": patience,
                "num_threads": threads,
            },
            "predict": {"settings": {"default": {"seq_len_s": 0.4, "hop_s": hop_s}}, "num_threads": threads},
            "evaluate": {**(MODES["fixed"] if fixed else MODES["auto"]), "iou": 0.4},
            "rf": {"fmax": 8000.0, "n_estimators": 200},
            "detect": {
                "sets": {
                    f"{name}-new": {
                        "data_dir": str(new_tapes),
                        "recordings": str(new_tapes),
                        "model": name,
                        "setting": "default",
                        "threshold": None,
                        "truth": str(truth),
                        "truth_dir": str(truth),
                        "truth_format": "birdsong-recognition-dataset",
                    }
                    for name in variants
                }
                if new_tapes is not None
                else {},
                "num_threads": threads,
            },
        }
    }


def split_and_merged(det, gt) -> tuple[int, int]:
    """(annotated bouts overlapped by >= 2 detections, detections overlapping >= 2 bouts), per recording."""
    from ethoflow.acoustic.evaluation.matching import iou_matrix

    split = merged = 0
    for rec, g in gt.groupby("recording"):
        d = det[det.recording == rec]
        if d.empty:
            continue
        hit = iou_matrix(g[["start_s", "end_s"]].to_numpy(float), d[["start_s", "end_s"]].to_numpy(float)) > 0
        split += int((hit.sum(axis=1) >= 2).sum())
        merged += int((hit.sum(axis=0) >= 2).sum())
    return split, merged


def score_modes(wd: Path, name: str, train_seed: int) -> list[dict]:
    """Held-out scores of one variant's predictions under every post-processing mode (:data:`MODES`)."""
    import pandas as pd

    from ethoflow.acoustic.evaluation.chaining import detect_all
    from ethoflow.acoustic.evaluation.matching import evaluate_detections, ground_truth
    from ethoflow.acoustic.evaluation.postprocess import choose_postprocess
    from ethoflow.acoustic.params import EvaluateParams
    from ethoflow.acoustic.records import read_variant_index
    from ethoflow.core import read_json

    vi = read_variant_index(wd / f"data/interim/acoustic/variants/{name}/variant_index.json")
    roles = vi.tape_roles
    pred = pd.read_parquet(wd / f"data/processed/acoustic/predictions/{name}-default/predictions.parquet")
    gt = ground_truth(read_json(wd / "data/interim/acoustic/corpus/corpus_index.json"), vi.classes)
    held = [t for t, r in roles.items() if r == "test"]
    rows = []
    for mode, kw in MODES.items():
        ev = EvaluateParams(**kw, iou=0.4)
        post = choose_postprocess(pred, gt, roles, 0.1, ev, name)
        det = detect_all(pred, roles, post["threshold"], 0.1, ev.boundary, post["min_gap_s"], post["min_dur_s"])
        res = evaluate_detections(det, gt, roles, ev.iou)
        h = res["groups"]["heldout"]["hungarian"]
        split, merged = split_and_merged(det[det.tape.isin(held)], gt[gt.tape.isin(held)])
        rows.append(
            {
                "arch": VARIANT_PREFIX[name.rstrip("0123456789")],
                "variant": name,
                "train_seed": train_seed,
                "mode": mode,
                **{k: h[k] for k in ("n_gt", "n_pred", "tp", "fp", "fn", "f1")},
                "split": split,
                "merged": merged,
                **{k: post.get(k) for k in ("threshold", "min_gap_s", "min_dur_s", "rule", "val_n_gt")},
                "val_f1_mean": post.get("val_f1_mean"),
                "val_f1_sd": post.get("val_f1_sd"),
            }
        )
    return rows


def detect_scores(wd: Path, name: str, train_seed: int) -> dict | None:
    """The detect step's score of one variant on the new tapes (its ``metrics.json``), or None."""
    path = wd / f"data/processed/acoustic/detect/{name}-new/metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    summary = json.loads(path.with_name("summary.json").read_text())
    return {
        "arch": VARIANT_PREFIX[name.rstrip("0123456789")],
        "variant": name,
        "train_seed": train_seed,
        "recordings": m.get("recordings"),
        "recordings_scored": m.get("recordings_scored"),
        "n_pred": m.get("detections"),
        **{k: m.get(k) for k in ("n_gt", "tp", "fp", "fn", "f1")},
        **{k: summary.get(k) for k in ("threshold", "min_gap_s", "min_dur_s")},
    }


def summarise(df, by: list[str]):
    """Pooled F1 (sums of tp/fp/fn) and the spread of the per-model F1 per group."""
    g = df.groupby(by)
    out = g[["n_gt", "tp", "fp", "fn"]].sum()
    out["models"] = g.size()
    out["f1_pooled"] = 2 * out.tp / (2 * out.tp + out.fp + out.fn)
    out["f1_mean"] = g.f1.mean()
    out["f1_sd"] = g.f1.std(ddof=1)
    out["f1_min"] = g.f1.min()
    if "split" in df:
        out["split"] = g.split.sum()
        out["merged"] = g.merged.sum()
    return out


def main() -> None:
    from ethoflow.acoustic.pipeline import ORDER, run_pipeline
    from ethoflow.core import setup_logging

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/ethoflow_finch_bench")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "audio" / "birdsongrec" / "Bird0"))
    ap.add_argument("--n-corpus", type=int, default=32, help="tapes 0..N-1 form the corpus; the rest are new")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument("--patience", type=int, default=8, help="early stopping patience (epochs)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="one tape split (variant) per seed")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0], help="acoustic.train.seed values")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--start", default="corpus", choices=ORDER, help="first step (later: reuse the workdir)")
    ap.add_argument("--until", default="detect", choices=ORDER, help="last step")
    ap.add_argument("--rf", action="store_true", help="also run the RF post-filter steps")
    ap.add_argument("--tag", default="", help="workdir train<seed>-<tag>: parallel runs of one seed apart")
    ap.add_argument("--arch", choices=["resnet", "framewise", "both"], default="resnet")
    ap.add_argument("--fixed", action="store_true", help="run the pipeline with the fixed defaults (not auto)")
    ap.add_argument("--hop", type=float, default=0.1, help="prediction hop (s): windows / framewise cells")
    args = ap.parse_args()
    setup_logging()
    root = Path(args.workdir)
    root.mkdir(parents=True, exist_ok=True)
    corpus, new = prepare_data(Path(args.data).resolve(), root, args.n_corpus)
    steps = ORDER[ORDER.index(args.start) : ORDER.index(args.until) + 1]
    skip = () if args.rf else ("rf_train", "rf_filter")
    t0 = time.time()
    for ts in args.train_seeds:
        wd = root / (f"train{ts}" + (f"-{args.tag}" if args.tag else ""))
        wd.mkdir(exist_ok=True)
        (wd / "dvc.yaml").write_text("stages: {}\n")  # marks the project root for ethoflow's state folder
        params = finch_params(
            corpus,
            args.epochs,
            args.base_width,
            args.seeds,
            args.threads,
            args.arch,
            args.fixed,
            args.hop,
            ts,
            new if "detect" in steps else None,
            Path(args.data).resolve() / "Annotation.xml",
            args.patience,
        )
        (wd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_pipeline(wd, until=args.until, start=args.start, skip=skip)
        names = list(params["acoustic"]["variants"])
        results_path = wd / "results.json"
        results = json.loads(results_path.read_text()) if results_path.is_file() else {"modes": [], "detect": []}
        if "evaluate" in steps:
            results["modes"] = [r for r in results["modes"] if r["variant"] not in names]
            for name in names:
                results["modes"] += score_modes(wd, name, ts)
        if "detect" in steps:
            results["detect"] = [r for r in results["detect"] if r["variant"] not in names]
            results["detect"] += [d for name in names if (d := detect_scores(wd, name, ts))]
        results_path.write_text(json.dumps(results, indent=1))
        print(f"train seed {ts}: done after {time.time() - t0:.0f} s", flush=True)
    print(f"pipeline wall time: {time.time() - t0:.0f} s")
    merged: dict = {"modes": [], "detect": []}
    for f in sorted(root.glob("train*/results.json")):  # every training seed run so far (also by other runs)
        r = json.loads(f.read_text())
        merged["modes"] += r["modes"]
        merged["detect"] += r["detect"]
    report(merged)


def report(results: dict) -> None:
    """Print the tables of ``results.json``."""
    import pandas as pd

    pd.set_option("display.width", 200)
    if results["modes"]:
        df = pd.DataFrame(results["modes"])
        n_splits, n_seeds = df.variant.nunique() // df.arch.nunique(), df.train_seed.nunique()
        print(f"\nheld-out test tapes, IoU 0.4, Hungarian; {n_splits} split(s) x {n_seeds} training seed(s) per arch")
        print(summarise(df, ["arch", "mode"]).to_string(float_format=lambda v: f"{v:.3f}"))
        wide = df.pivot_table(index=["arch", "variant", "train_seed"], columns="mode", values="f1")
        diff = (wide["auto"] - wide["fixed"]).groupby("arch")
        print(
            "\npaired auto - fixed F1 per model: mean",
            diff.mean().round(4).to_dict(),
            "min",
            diff.min().round(4).to_dict(),
        )
        auto = df[df["mode"] == "auto"]
        print("\nauto's choices (count of models):")
        print(auto.groupby(["arch", "rule", "threshold", "min_gap_s", "min_dur_s"]).size().to_string())
        print(
            "validation events per model: median",
            auto.val_n_gt.median(),
            "range",
            auto.val_n_gt.min(),
            "-",
            auto.val_n_gt.max(),
        )
    if results["detect"]:
        dd = pd.DataFrame(results["detect"])
        print("\ndetect on the new (never annotated for training) tapes, scored against Annotation.xml bouts:")
        print(summarise(dd, ["arch"]).to_string(float_format=lambda v: f"{v:.3f}"))
        print(
            "recordings scored / recordings:",
            sorted({(r["recordings_scored"], r["recordings"]) for r in results["detect"]}),
        )


if __name__ == "__main__":
    main()
