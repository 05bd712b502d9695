"""``ethoflow build06``: the build06 merge outside ``dvc repro`` (same options as the stage).

Options start from the ``build06`` section of the params file (when present) and command-line
flags override them. Unlike the DVC stage, every existing output is protected: pass
``--overwrite`` to replace them. ``--dry-run`` lists what would be read and written.

Example (a morphseq-style root)::

    ethoflow build06 --morphseq-root /data/morphseq --data-root /data/morphseq \\
        --model-name legacy_vae --out /data/morphseq/metadata/df03.parquet --dry-run
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ethoflow.build06.merge import run_build06
from ethoflow.build06.params import Build06Params
from ethoflow.core.params import load_section, validate_section


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ethoflow build06``."""
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s; optional)")
    parser.add_argument("--dry-run", action="store_true", default=None, help="list reads and writes; write nothing")
    parser.add_argument("--overwrite", action="store_true", default=None, help="replace existing outputs")
    parser.add_argument(
        "--experiments",
        nargs="+",
        default=None,
        metavar="EXP",
        help="experiments to merge (default: all of df02; commas also separate)",
    )
    parser.add_argument("--z-schema", choices=["auto", "flat", "bio_nuisance"], default=None)
    parser.add_argument("--z-dtype", choices=["float32", "float64"], default=None)
    parser.add_argument("--model-name", default=None)
    parser.add_argument("--df02", default=None, help="df02 Parquet/CSV")
    parser.add_argument("--latents-root", default=None, help="parent of <model_name>/morph_latents_{exp}.csv")
    parser.add_argument("--morphseq-root", default=None, help="root with metadata/combined_metadata_files/")
    parser.add_argument("--data-root", default=None, help="data root with analysis/latent_embeddings/legacy/")
    parser.add_argument("--out", default=None, help="df03 Parquet path (CSV and sidecar JSON beside it)")
    parser.add_argument("--coverage-report", default=None)
    parser.add_argument("--analysis-root", default=None, help="also write df03_{experiment}.csv here")
    parser.add_argument("--train-metadata", default=None, help="table to left-join on snip_id")
    parser.add_argument("--generate-missing-latents", action="store_true", default=None)
    parser.add_argument("--no-csv", action="store_true", help="write Parquet only")


def config_from_args(args: argparse.Namespace) -> tuple[Build06Params, str | None]:
    """Params section (if the file has it) overridden by the flags; plus vae.model_name as fallback."""
    base: dict = {}
    vae_name = None
    if Path(args.params).exists():
        base = load_section("build06", Build06Params, args.params, required=False).model_dump()
        from ethoflow.core.params import load_params

        vae_name = (load_params(args.params).get("vae") or {}).get("model_name")
    over = {
        "dry_run": args.dry_run,
        "overwrite": args.overwrite,
        "z_schema": args.z_schema,
        "z_dtype": args.z_dtype,
        "model_name": args.model_name,
        "df02": args.df02,
        "latents_root": args.latents_root,
        "morphseq_root": args.morphseq_root,
        "data_root": args.data_root,
        "out": args.out,
        "coverage_report": args.coverage_report,
        "analysis_root": args.analysis_root,
        "train_metadata": args.train_metadata,
        "generate_missing_latents": args.generate_missing_latents,
    }
    if args.experiments is not None:
        over["experiments"] = [e for item in args.experiments for e in item.split(",") if e]
    if args.no_csv:
        over["write_csv"] = False
    base.update({k: v for k, v in over.items() if v is not None})
    return validate_section(base, Build06Params, "command line", "build06"), vae_name


def run(args: argparse.Namespace) -> int:
    """Run the merge; prints the plan for ``--dry-run`` and a one-line summary otherwise."""
    cfg, vae_name = config_from_args(args)
    res = run_build06(cfg, model_name=vae_name, dvc_managed=False)
    if res.dry_run:
        print("dry run: nothing written")
        for r in res.reads:
            print(f"  read   {r}")
        for e, p in res.latent_files.items():
            if p is None:
                print(f"  missing latents for {e}")
        for w in res.writes:
            note = "  (exists: needs --overwrite)" if w in res.protected_existing else ""
            print(f"  write  {w}{note}")
        return 0
    cov = res.coverage["overall"]
    print(
        f"df03: {res.n_rows} rows, {len(res.z_columns)} z columns, coverage {100 * cov['coverage']:.1f}% "
        f"-> {res.paths.out}"
    )
    return 0
