"""hbehave_extract: per-minute hierarchical embeddings (level1..levelN, comb) for one aggregation.

``--model`` (``hbehave.extract.model`` in dvc.yaml) is an ethoflow checkpoint (``hbehave_train``'s) or a
checkpoint of the authors' BehaveMAE code, read with ``hbehave.pretrained`` (architecture arguments,
z-score stats, ``normalise``) and converted under ``.ethoflow/hbehave_extract/`` first.
"""

from ethoflow.core.io import write_json
from ethoflow.core.params import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.extract import extract
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.pretrained import resolve_model
from ethoflow.hbehave.store import read_store_attrs


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--agg", required=True, help="aggregation name from hbehave.extract.aggregations")
    parser.add_argument("--model", default=None, help="checkpoint (default: hbehave.extract.model)")
    parser.add_argument("--store", default="data/interim/hbehave/activity.zarr")
    parser.add_argument("--out", default=None, help="default: data/processed/hbehave/embeddings/<agg>")
    parser.add_argument("--summary", default=None, help="default: data/processed/hbehave/embeddings/<agg>/summary.json")
    parser.add_argument(
        "--work-dir",
        default=".ethoflow/hbehave_extract",
        help="where a BehaveMAE checkpoint is converted (readable by Slurm array tasks)",
    )
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    out = args.out or f"data/processed/hbehave/embeddings/{args.agg}"
    n_channels = len(read_store_attrs(args.store).get("channels") or []) or None
    model_path, source = resolve_model(args.model or cfg.extract.model, cfg.pretrained, args.work_dir, n_channels)
    # an ethoflow checkpoint must match hbehave.model; a BehaveMAE one is described by hbehave.pretrained
    model_params = cfg.model if source["format"] == "ethoflow" else None
    metrics = extract(
        model_path,
        args.store,
        args.agg,
        cfg.extract,
        out,
        model_params=model_params,
        stage=f"hbehave_extract@{args.agg}",
    )
    metrics["model"] = source
    write_json(args.summary or f"{out}/summary.json", metrics)


if __name__ == "__main__":
    run_stage(main)
