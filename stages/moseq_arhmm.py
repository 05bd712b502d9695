"""moseq_arhmm: resumable kappa search for the AR-HMM (target median syllable duration), then the final fit."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_arhmm

main = stage_main(run_moseq_arhmm, __doc__)

if __name__ == "__main__":
    run_stage(main)
