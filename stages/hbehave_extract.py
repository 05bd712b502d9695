"""hbehave_extract: per-minute hierarchical embeddings (level1..levelN, comb) for one aggregation.

``--model`` (``hbehave.extract.model`` in dvc.yaml) is an ethoflow checkpoint (``hbehave_train``'s) or a
checkpoint of the authors' BehaveMAE code, read with ``hbehave.pretrained`` (architecture arguments,
z-score stats, ``normalise``) and converted into ``--work-dir`` first.
"""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.hbehave.stages import run_hbehave_extract

main = stage_main(run_hbehave_extract, __doc__)

if __name__ == "__main__":
    run_stage(main)
