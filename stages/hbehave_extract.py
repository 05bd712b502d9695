"""hbehave_extract: per-minute hierarchical embeddings (level1..levelN, comb) for one aggregation.

``--model`` (``hbehave.extract.model`` in dvc.yaml) is an ethoflow checkpoint (``hbehave_train``'s) or a
checkpoint of the authors' BehaveMAE code, read with ``hbehave.pretrained`` (architecture arguments,
z-score stats, ``normalise``) and converted into ``--work-dir`` first.
"""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.hbehave.stages import run_hbehave_extract


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        agg="aggregation name from hbehave.extract.aggregations",
        model="checkpoint (hbehave.extract.model)",
        store="the activity Zarr store",
        out="folder of the embeddings",
        summary="metrics JSON",
        work_dir="where a BehaveMAE checkpoint is converted (readable by Slurm array tasks)",
    )
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
