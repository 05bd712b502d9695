"""vae_snips: cut the activity store into snips and write df02 (Parquet + CSV) and snip counts."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.vae.stages import run_vae_snips

main = stage_main(run_vae_snips, __doc__)

if __name__ == "__main__":
    run_stage(main)
