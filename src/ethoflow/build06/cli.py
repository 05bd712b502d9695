"""``ethoflow build06``: the build06 merge outside ``dvc repro``, with morphseq's Build06 flags.

A morphseq pipeline root and central data root::

    ethoflow build06 --root /data/morphseq --data-root /net/data/morphseq --model-name legacy_vae \\
        --export-analysis-copies --train-name run1 --dry-run

reads ``<root>/metadata/combined_metadata_files/embryo_metadata_df02.csv`` and
``<data_root>/analysis/latent_embeddings/legacy/<model_name>/morph_latents_{exp}.csv`` and writes
``embryo_metadata_df03.{parquet,csv,json}`` and ``embryo_metadata_df03_coverage.json`` beside df02
(``--data-root`` defaults to ``$MORPHSEQ_DATA_ROOT``). ``--df02``, ``--latents-root``, ``--out`` and
``--analysis-root`` name files directly instead. Merge options start from the ``build06`` section of
``--params`` when that file exists; flags override them. Every existing output is protected: pass
``--overwrite`` to replace it.

``--generate-missing-latents`` embeds experiments without a latent file with vae_embed's code into
the store named by ``--data-root``/``--latents-root`` (it refuses a folder that is a DVC out of the
project: in the DVC chain, vae_embed writes every experiment of df02).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ethoflow.build06.build import RunOptions, TrainJoin, build_df03_with_embeddings
from ethoflow.build06.layout import (
    CHECKPOINT,
    Df03Paths,
    morphseq_analysis_dir,
    morphseq_df02,
    morphseq_df03,
    morphseq_latents_dir,
    morphseq_train_paths,
    resolve_model_dir,
)
from ethoflow.build06.params import Build06Params
from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.params import load_params, load_section, validate_section

DATA_ROOT_ENV = "MORPHSEQ_DATA_ROOT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ethoflow build06`` (morphseq's Build06 flags first)."""
    parser.add_argument("--root", default=None, help="morphseq pipeline root (df02 in, df03 beside it)")
    parser.add_argument(
        "--data-root",
        default=os.environ.get(DATA_ROOT_ENV),
        help=f"central data root: latent store, analysis copies, models (default: ${DATA_ROOT_ENV})",
    )
    parser.add_argument("--model-name", default=None, help="latent store / model name (default: vae.model_name)")
    parser.add_argument(
        "--experiments",
        nargs="+",
        default=None,
        metavar="EXP",
        help="experiments to merge (default: all of df02; commas also separate)",
    )
    parser.add_argument(
        "--generate-missing-latents",
        action="store_true",
        help="embed experiments without latents (needs --activity-store; never into a DVC out)",
    )
    parser.add_argument(
        "--train-name",
        default=None,
        help="also write <root>/training_data/<name>/embryo_metadata_with_embeddings.csv",
    )
    parser.add_argument(
        "--export-analysis-copies",
        action="store_true",
        help="also write <data_root>/metadata/metadata_n_embeddings/<model_name>/df03_{exp}.csv",
    )
    parser.add_argument("--dry-run", action="store_true", help="list reads and writes; write nothing")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--allow-partial", action="store_true", default=None, help="merge without missing latents")
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s; optional)")
    parser.add_argument("--df02", default=None, help="df02 Parquet/CSV (instead of --root's)")
    parser.add_argument("--latents-root", default=None, help="parent of <model_name>/morph_latents_{exp}.csv")
    parser.add_argument("--out", default=None, help="df03 Parquet (CSV, sidecar and coverage beside it)")
    parser.add_argument("--analysis-root", default=None, help="write df03_{exp}.csv copies here")
    parser.add_argument(
        "--z-schema",
        choices=["auto", "flat", "bio_nuisance", "bio_nuisance_or_flat"],
        default=None,
        help="bio_nuisance on flat latents stops (exit 2); bio_nuisance_or_flat falls back to them",
    )
    parser.add_argument("--z-dtype", choices=["float32", "float64"], default=None)
    parser.add_argument("--no-csv", action="store_true", help="write Parquet only")
    parser.add_argument(
        "--vae-checkpoint",
        default=None,
        help=f"model for generation (default: {CHECKPOINT} found by --data-root and --model-name)",
    )
    parser.add_argument("--activity-store", default=None, help="activity store to embed from (generation)")


def config_from_args(args: argparse.Namespace) -> tuple[Build06Params, str | None]:
    """Params section (if the file exists) overridden by the flags; plus ``vae.model_name`` as fallback."""
    base: dict = {}
    vae_name = None
    if Path(args.params).exists():
        base = load_section("build06", Build06Params, args.params, required=False).model_dump()
        vae_name = (load_params(args.params).get("vae") or {}).get("model_name")
    over = {"z_schema": args.z_schema, "z_dtype": args.z_dtype, "allow_partial": args.allow_partial}
    if args.experiments is not None:
        over["experiments"] = [e for item in args.experiments for e in item.split(",") if e]
    base.update({k: v for k, v in over.items() if v is not None})
    return validate_section(base, Build06Params, "command line", "build06"), vae_name


def _need(value, what: str, how: str):
    if value is None:
        raise ParamsError(f"ethoflow build06: no {what}: {how}")
    return value


def dvc_out_paths(project: str | os.PathLike = ".") -> list[Path]:
    """The outs of every stage of ``<project>/dvc.yaml`` (``vars`` and ``${a.b}`` filled from params.yaml,
    as DVC resolves them: :func:`ethoflow.core.stage.resolved_stages`), as absolute paths.

    Used to refuse generating latents into a folder DVC owns. No dvc.yaml: an empty list.

    Raises:
        EthoflowError: ``dvc.yaml`` does not resolve.
    """
    from ethoflow.core.stage import resolved_stages  # imports DVC: only when generating latents

    project = Path(project)
    if not (project / "dvc.yaml").exists():
        return []
    outs = []
    for stage in resolved_stages(project / "dvc.yaml").values():
        for o in stage.get("outs") or []:
            name = next(iter(o)) if isinstance(o, dict) else o
            outs.append((project / str(name)).resolve())
    return outs


def _generator(args, latents_dir: Path, df02: Path, model_name: str):
    """The ``generate`` callback: vae_embed's ``embed_experiments`` into ``latents_dir`` (not a DVC out)."""
    target = latents_dir.resolve()
    for out in dvc_out_paths():
        if target == out or out in target.parents:
            raise ParamsError(
                f"{latents_dir}: is the DVC out {out} (vae_embed's); --generate-missing-latents writes only "
                "outside DVC's outs: point --latents-root/--data-root elsewhere, or run `dvc repro vae_embed`"
            )
    store = _need(args.activity_store, "--activity-store", "generating latents embeds snips from an activity store")
    if args.vae_checkpoint:
        checkpoint = Path(args.vae_checkpoint)
    else:
        root = _need(args.data_root, "model", f"pass --vae-checkpoint or --data-root (or set ${DATA_ROOT_ENV})")
        checkpoint = resolve_model_dir(root, model_name) / CHECKPOINT
    if not checkpoint.is_file():
        raise InputError(f"{checkpoint}: VAE checkpoint not found")

    def generate(missing: list[str]) -> None:
        from ethoflow.vae.embed import embed_experiments  # torch only when generating

        embed_experiments(checkpoint, df02, store, latents_dir, missing)

    return generate


def run(args: argparse.Namespace) -> int:
    """Resolve the paths, run :func:`build_df03_with_embeddings`; prints the plan for ``--dry-run``."""
    cfg, vae_name = config_from_args(args)
    model_name = _need(args.model_name or vae_name, "model name", "pass --model-name")
    if args.df02:
        df02 = Path(args.df02)
    else:
        df02 = morphseq_df02(_need(args.root, "df02", "pass --root (morphseq pipeline root) or --df02"))
    if args.out:
        out = Df03Paths.beside(args.out, csv=not args.no_csv)
    else:
        out = morphseq_df03(
            _need(args.root, "df03 path", "pass --root (df03 beside df02) or --out"), csv=not args.no_csv
        )
    if args.latents_root:
        latents_dir = Path(args.latents_root) / model_name
    else:
        data_root = _need(
            args.data_root, "latent store", f"pass --data-root (or set ${DATA_ROOT_ENV}) or --latents-root"
        )
        latents_dir = morphseq_latents_dir(data_root, model_name)
    analysis_dir = None
    if args.analysis_root:
        analysis_dir = Path(args.analysis_root)
    elif args.export_analysis_copies:
        root = _need(
            args.data_root, "analysis folder", f"pass --data-root (or set ${DATA_ROOT_ENV}) or --analysis-root"
        )
        analysis_dir = morphseq_analysis_dir(root, model_name)
    train = None
    if args.train_name:
        meta, joined = morphseq_train_paths(_need(args.root, "root", "--train-name needs --root"), args.train_name)
        train = TrainJoin(metadata=meta, out=joined)
    generate = _generator(args, latents_dir, df02, model_name) if args.generate_missing_latents else None
    res = build_df03_with_embeddings(
        cfg,
        df02=df02,
        latents_dir=latents_dir,
        model_name=model_name,
        out=out,
        analysis_dir=analysis_dir,
        train=train,
        options=RunOptions(overwrite=args.overwrite, dry_run=args.dry_run, generate=generate),
    )
    if res.dry_run:
        print("dry run: nothing written")
        for r in res.reads:
            print(f"  read   {r}")
        for e, p in res.latent_files.items():
            if p is None:
                if args.generate_missing_latents:
                    note = "would generate them"
                elif cfg.allow_partial:
                    note = "would merge without them (allow_partial)"
                else:
                    note = "the run would fail: pass --generate-missing-latents or --allow-partial"
                print(f"  missing latents for {e}: {note}")
        for w in res.writes:
            note = "  (exists: needs --overwrite)" if w in res.protected_existing else ""
            print(f"  write  {w}{note}")
        return 0
    cov = res.coverage["overall"]
    print(
        f"df03: {res.n_rows} rows, {len(res.z_columns)} z columns, coverage {100 * cov['coverage']:.1f}% "
        f"-> {res.outputs.parquet}"
    )
    return 0
