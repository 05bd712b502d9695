"""hbehave_zarr: raw activity (Digital Ventilated Cage CSVs + summary, or DAM files) -> Zarr store + ingest report."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.hbehave.stages import run_hbehave_zarr

main = stage_main(run_hbehave_zarr, __doc__)

if __name__ == "__main__":
    run_stage(main)
