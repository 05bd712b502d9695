"""hbehave_extract: per-minute hierarchical embeddings (level1..levelN, comb) for one aggregation.

``--model`` (``hbehave.extract.model`` in dvc.yaml) is an ethoflow checkpoint (``hbehave_train``'s) or a
checkpoint of the authors' BehaveMAE code, read with ``hbehave.pretrained`` (architecture arguments,
z-score stats, ``normalise``) and converted into ``--work-dir`` first.
"""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_extract


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--agg", required=True, help="aggregation name from hbehave.extract.aggregations")
    parser.add_argument("--model", required=True, help="checkpoint (hbehave.extract.model)")
    parser.add_argument("--store", required=True, help="the activity Zarr store")
    parser.add_argument("--out", required=True, help="folder of the embeddings")
    parser.add_argument("--summary", required=True, help="metrics JSON")
    parser.add_argument(
        "--work-dir", required=True, help="where a BehaveMAE checkpoint is converted (readable by Slurm array tasks)"
    )
    args = parser.parse_args(argv)
    cfg = load_section("hbehave", HBehaveParams, args.params)
    run_hbehave_extract(
        cfg,
        agg=args.agg,
        model=args.model,
        store=args.store,
        out=args.out,
        summary=args.summary,
        work_dir=args.work_dir,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
