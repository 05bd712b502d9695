"""The acoustic DVC stages: one ``run_<stage>`` per stage of ``dvc.yaml`` (wiring only).

Each function reads its inputs, calls the domain modules (``corpus``, ``variants``, ``train``,
``predict``, ``evaluate``, ``rf``, ``report``), sends the heavy part through :func:`ethoflow.dispatch.run`
(local, debug or Slurm, from the ``compute`` params) and writes its outputs. Every path is an argument:
``dvc.yaml``'s ``cmd`` names it, ``stages/<stage>.py`` passes it on. The ``_..._job`` functions are what a
dispatched job runs (top-level, so they pickle by reference; paths are relative to the project root).
:func:`ethoflow.dispatch.run` gets the function's arguments by keyword; a function whose own argument is
called ``params_path`` (one of ``run``'s keywords) gets it bound with :func:`functools.partial`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd

from ethoflow import dispatch
from ethoflow.acoustic.data.corpus import build_corpus
from ethoflow.acoustic.data.variants import build_variant, write_variant
from ethoflow.acoustic.evaluation.evaluate import evaluate_predictions
from ethoflow.acoustic.evaluation.rf import filter_layer, write_rf_train
from ethoflow.acoustic.external import evaluate_external
from ethoflow.acoustic.inference.detect import detect_set
from ethoflow.acoustic.inference.predict import StreamOptions, predict_recordings
from ethoflow.acoustic.params import AcousticParams, PredictSetting
from ethoflow.acoustic.records import ReportPaths, RFFilterPaths, RFTrainPaths, read_variant_index
from ethoflow.acoustic.reporting.report import build_report
from ethoflow.acoustic.training.learning_curve import run_point, summarise
from ethoflow.acoustic.training.train import train_model
from ethoflow.core import ParamsError, atomic_path, output_set, read_json, state_dir, write_json
from ethoflow.core.io import write_metrics
from ethoflow.core.params import DEFAULT_PARAMS

__all__ = [
    "run_acoustic_corpus",
    "run_acoustic_detect",
    "run_acoustic_evaluate",
    "run_acoustic_external",
    "run_acoustic_predict",
    "run_acoustic_report",
    "run_acoustic_rf_filter",
    "run_acoustic_rf_train",
    "run_acoustic_train",
    "run_acoustic_variants",
]

PathLike = str | os.PathLike


def _csv(df: pd.DataFrame, path: PathLike) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")


def _item(cfg: AcousticParams, variant: str, setting: str, params_path: str) -> tuple[str, PredictSetting]:
    """Check that ``variant`` and ``setting`` exist in the params; return ``("<variant>-<setting>", setting)``."""
    cfg.variant(variant, params_path)
    return f"{variant}-{setting}", cfg.setting(setting, params_path)


def run_acoustic_corpus(cfg: AcousticParams, *, out: PathLike) -> None:
    """``acoustic_corpus``: ``out/corpus_index.json`` and ``out/report.json`` (bad inputs) from ``acoustic.corpus``.

    Args:
        out: folder of corpus_index.json and report.json.

    Raises:
        InputError: see :func:`ethoflow.acoustic.data.corpus.build_corpus`.
    """
    index, report = build_corpus(cfg.corpus)
    with output_set([Path(out) / "corpus_index.json", Path(out) / "report.json"]) as (tmp_index, tmp_report):
        write_json(tmp_index, index)  # all-or-nothing: the index and its bad-input report together
        write_json(tmp_report, report)


def run_acoustic_variants(
    cfg: AcousticParams, *, variant: str, corpus_index: PathLike, out: PathLike, params_path: PathLike = DEFAULT_PARAMS
) -> None:
    """``acoustic_variants@<variant>``: train/val/test segments, noise mining, selection tables into ``out``.

    Args:
        variant: variant name (acoustic.variants).
        corpus_index: corpus_index.json.
        out: the variant's folder.

    Raises:
        ParamsError: ``variant`` is not in ``acoustic.variants``.
    """
    spec = cfg.variant(variant, params_path)
    features = cfg.variant_features(variant, params_path)  # the variant's own front end, if it sets one
    index = read_json(corpus_index)
    df, vindex = build_variant(index, spec, features.seq_len_s)
    write_variant(out, df, vindex, index, spec.spectrogram_pngs, features, spec.seed)


def run_acoustic_train(
    cfg: AcousticParams,
    *,
    variant: str,
    variant_dir: PathLike,
    corpus_index: PathLike,
    out: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict:
    """``acoustic_train@<variant>``: the variant's model (``acoustic.train.arch``, or the variant's ``arch``)
    on ``variant_dir`` -> ``out`` (model.pt, history.json, train_summary.json, dvclive/), dispatched;
    resumes from ``.ethoflow/checkpoints/acoustic_train/<variant>``. The window classifier trains on the
    variant's segments (:func:`ethoflow.acoustic.training.train.train_model`); the framewise detector on its
    recordings, framed by the corpus's annotated events (``corpus_index``;
    :func:`ethoflow.acoustic.training.framewise_training.train_framewise`).

    Args:
        variant: variant name (acoustic.variants).
        variant_dir: the variant's folder (acoustic_variants).
        corpus_index: corpus_index.json (frame labels of the framewise model).
        out: model folder: model.pt, history.json, train_summary.json, dvclive/.
    """
    cfg.variant(variant, params_path)
    training = cfg.variant_train(variant, params_path)
    features = cfg.variant_features(variant, params_path)
    ckpt = str(state_dir("checkpoints", "acoustic_train", variant))
    live = str(Path(out) / "dvclive")
    if training.arch == "framewise":
        # local: ethoflow.acoustic.training.framewise_training.train_framewise imports torch (slow to import)
        from ethoflow.acoustic.training.framewise_training import train_framewise

        return dispatch.run(
            train_framewise,
            variant_dir=str(variant_dir),
            corpus_index=str(corpus_index),
            out_dir=str(out),
            features=features,
            train=training,
            ckpt_dir=ckpt,
            live_dir=live,
            stage=f"acoustic_train@{variant}",
            params_path=params_path,
        )

    return dispatch.run(
        train_model,
        variant_dir=str(variant_dir),
        out_dir=str(out),
        features=features,
        training=training,
        ckpt_dir=ckpt,
        live_dir=live,
        stage=f"acoustic_train@{variant}",
        params_path=params_path,
    )


def run_acoustic_predict(
    cfg: AcousticParams,
    *,
    variant: str,
    setting: str,
    model: PathLike,
    variant_index: PathLike,
    out: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict:
    """``acoustic_predict@<variant>-<setting>``: per-window call probabilities -> ``out/predictions.parquet``.

    Args:
        variant: variant name (acoustic.variants).
        setting: prediction setting (acoustic.predict.settings).
        model: the variant's model.pt.
        variant_index: the variant's variant_index.json.
        out: folder of predictions.parquet.
    """
    name, s = _item(cfg, variant, setting, params_path)
    vindex = read_variant_index(variant_index)
    return dispatch.run(
        predict_recordings,
        model_path=str(model),
        recordings=vindex.recording_dicts(),
        setting=s,
        out_path=str(Path(out) / "predictions.parquet"),
        batch_size=cfg.predict.batch_size,
        num_threads=cfg.predict.num_threads,
        features=cfg.variant_features(variant, params_path).model_dump(),  # warns if the model file differs
        stream=StreamOptions(cfg.predict.chunk_s, cfg.corpus.nonfinite),
        stage=f"acoustic_predict@{name}",
        params_path=params_path,
    )


def run_acoustic_evaluate(
    cfg: AcousticParams,
    *,
    variant: str,
    setting: str,
    predictions: PathLike,
    corpus_index: PathLike,
    variant_index: PathLike,
    out: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> None:
    """``acoustic_evaluate@<variant>-<setting>``: window probabilities -> detections -> IoU matching.

    Writes the ``cnn`` layer into ``out``: detections.parquet, per_tape.csv, selections/, metrics.json
    (see :func:`ethoflow.acoustic.evaluation.evaluate.write_layer`) and pr_curve.csv.

    Args:
        variant: variant name (acoustic.variants).
        setting: prediction setting (acoustic.predict.settings).
        predictions: the item's predictions.parquet.
        corpus_index: corpus_index.json (ground truth).
        variant_index: the variant's variant_index.json.
        out: folder of the cnn layer (detections, tables, metrics.json).
    """
    name, _ = _item(cfg, variant, setting, params_path)

    dispatch.run(
        evaluate_predictions,
        cfg=cfg,
        variant=variant,
        setting=setting,
        vindex=read_variant_index(variant_index),
        predictions=str(predictions),
        corpus_index=str(corpus_index),
        out=str(out),
        stage=f"acoustic_evaluate@{name}",
        params_path=params_path,
    )


def run_acoustic_rf_train(
    cfg: AcousticParams, *, variant: str, setting: str, paths: RFTrainPaths, params_path: PathLike = DEFAULT_PARAMS
) -> None:
    """``acoustic_rf_train@<variant>-<setting>``: librosa features of every detection (``paths.detections``)
    into ``paths.features_out/features.parquet`` and the random forest on the validation tapes' detections,
    its threshold chosen there (``paths.model_out/rf.pkl``, ``paths.model_out/rf_summary.json``); see
    :mod:`ethoflow.acoustic.evaluation.rf`.

    Args:
        variant: variant name (acoustic.variants).
        setting: prediction setting (acoustic.predict.settings).
    """
    name, _ = _item(cfg, variant, setting, params_path)
    dispatch.run(
        write_rf_train,
        cfg=cfg,
        vindex=read_variant_index(paths.variant_index),
        detections=str(paths.detections),
        corpus_index=str(paths.corpus_index),
        features_out=str(paths.features_out),
        model_out=str(paths.model_out),
        stage=f"acoustic_rf_train@{name}",
        params_path=params_path,
    )


def run_acoustic_rf_filter(
    cfg: AcousticParams, *, variant: str, setting: str, paths: RFFilterPaths, params_path: PathLike = DEFAULT_PARAMS
) -> None:
    """``acoustic_rf_filter@<variant>-<setting>``: keep the detections the forest (``paths.model``, an
    ``rf.pkl``) accepts; the ``rf`` layer into ``paths.out`` as ``acoustic_evaluate`` writes the ``cnn`` layer,
    plus pr_curve.csv (:func:`ethoflow.acoustic.evaluation.rf.filter_layer`).

    Args:
        variant: variant name (acoustic.variants).
        setting: prediction setting (acoustic.predict.settings).
    """
    name, _ = _item(cfg, variant, setting, params_path)
    dispatch.run(
        filter_layer,
        paths=paths,
        vindex=read_variant_index(paths.variant_index),
        variant=variant,
        setting=setting,
        iou=cfg.evaluate.iou,
        stage=f"acoustic_rf_filter@{name}",
        params_path=params_path,
    )


def run_acoustic_report(cfg: AcousticParams, *, paths: ReportPaths, params_path: PathLike = DEFAULT_PARAMS) -> dict:
    """``acoustic_report``: headline metrics (``paths.metrics``) and the tables, figures and plot data
    (``paths.reports``) of every variant x setting x layer, the external models (``acoustic.external``) and
    the detection sets' metrics (``<paths.detect_dir>/<set>/metrics.json``); see
    :func:`ethoflow.acoustic.reporting.report.build_report`.
    """
    return dispatch.run(
        build_report,
        variants=sorted(cfg.variants),
        settings=sorted(cfg.predict.settings),
        paths=paths,
        detect_sets=sorted(cfg.detect.sets) if paths.detect_dir is not None else (),
        external={k: e.variant for k, e in cfg.external.items()},
        stage="acoustic_report",
        params_path=params_path,
    )


def run_acoustic_external(
    cfg: AcousticParams,
    *,
    name: str,
    setting: str,
    variants_dir: PathLike,
    predictions: PathLike,
    corpus_index: PathLike,
    out: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> None:
    """``acoustic_external@<name>-<setting>``: an existing ANIMAL-SPOT model file (``acoustic.external.<name>``)
    predicts the recordings of the variant it names (``<variants_dir>/<variant>/variant_index.json``) into
    ``predictions``, evaluated into ``out`` as a trained variant is (:func:`ethoflow.acoustic.external.evaluate_external`).

    Args:
        name: external model (a key of acoustic.external).
        setting: prediction setting (a key of acoustic.predict.settings).
        variants_dir: folder of the variants (<variant>/variant_index.json).
        predictions: window probabilities (Parquet) to write.
        corpus_index: corpus_index.json (ground truth).
        out: evaluation folder (detections, tables, metrics.json).

    Raises:
        ParamsError: unknown external model or setting.
    """
    if name not in cfg.external:
        raise ParamsError(f"{params_path}: acoustic.external has no model '{name}' (have: {sorted(cfg.external)})")
    cfg.setting(setting, params_path)
    vindex = read_variant_index(Path(variants_dir) / cfg.external[name].variant / "variant_index.json")
    dispatch.run(
        evaluate_external,
        cfg=cfg,
        name=name,
        setting_name=setting,
        vindex=vindex,
        predictions=str(predictions),
        corpus_index=str(corpus_index),
        out_dir=str(out),
        stage=f"acoustic_external@{name}-{setting}",
        params_path=params_path,
    )


def run_acoustic_detect(
    cfg: AcousticParams,
    *,
    name: str,
    out: PathLike,
    evaluations: PathLike | None = None,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict:
    """``acoustic_detect@<name>``: the detection set ``acoustic.detect.sets.<name>`` on its unannotated
    recordings into ``out`` (:func:`ethoflow.acoustic.inference.detect.detect_set`, dispatched; resumable).
    ``evaluations``: the folder of ``acoustic_evaluate``'s outs, where an ``auto`` threshold or clean-up
    reads the values chosen on the model variant's validation tapes (``<variant>-<setting>/postprocess.json``).

    Args:
        name: detection set (a key of acoustic.detect.sets).
        evaluations: acoustic_evaluate's outs (<variant>-<setting>/postprocess.json).
        out: output folder of the set (a DVC persist out).

    Raises:
        ParamsError: unknown set/setting (before anything is dispatched).
    """
    if name not in cfg.detect.sets:
        raise ParamsError(f"{params_path}: acoustic.detect.sets has no set '{name}' (have: {sorted(cfg.detect.sets)})")
    cfg.detect_set(name, params_path)
    return dispatch.run(
        functools.partial(detect_set, params_path=params_path),  # detect_set's params_path: run's keyword too
        cfg=cfg,
        name=name,
        out=str(out),
        evaluations=str(evaluations) if evaluations is not None else None,
        stage=f"acoustic_detect@{name}",
        params_path=params_path,
    )


def run_acoustic_lc(
    cfg: AcousticParams,
    *,
    duration: str,
    seed: int,
    variant_dir: PathLike,
    corpus_index: PathLike,
    out: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict:
    """``acoustic_lc@<duration>-<seed>``: one learning-curve point (train on ``duration`` s of the variant's
    training audio, predict and evaluate the held-out tapes) into ``out``, dispatched
    (:func:`ethoflow.acoustic.training.learning_curve.run_point`).

    Args:
        duration: seconds of training audio, or all.
        seed: .
        variant_dir: the variant's folder (acoustic_variants).
        corpus_index: corpus_index.json (ground truth).
        out: the point's folder (point.json, model/, evaluation/).
    """
    lc = cfg.learning_curve
    cfg.variant(lc.variant, params_path)
    return dispatch.run(
        functools.partial(run_point, params_path=params_path),  # run_point's params_path: run's keyword too
        cfg=cfg,
        variant=lc.variant,
        duration=str(duration),
        seed=int(seed),
        variant_dir=str(variant_dir),
        corpus_index=str(corpus_index),
        out=str(out),
        stage=f"acoustic_lc@{duration}-{seed}",
        params_path=params_path,
    )


def run_acoustic_learning_curve(
    cfg: AcousticParams, *, points: PathLike, out: PathLike, index: PathLike, metrics: PathLike, evaluations: list[str]
) -> dict:
    """``acoustic_learning_curve``: every point under ``points`` -> ``out`` (curve.csv, learning_curve.png),
    ``evaluation/index.json`` (``index``: every evaluation folder in ``evaluations`` and the points, with
    files and held-out numbers) and the headline ``metrics`` (F1 mean, sd, min, max per duration).

    Args:
        points: folder of the acoustic_lc points.
        out: folder: curve.csv, learning_curve.png.
        index: evaluation/index.json to write.
        metrics: headline metrics JSON.
        evaluations: evaluation folders to index.
    """
    headline = summarise(points, out, index, evaluations)
    write_metrics(metrics, headline)
    return headline
