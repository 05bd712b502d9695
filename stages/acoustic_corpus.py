"""acoustic_corpus: read recordings and annotations (crowsetta) into the corpus index and a bad-input report."""

from ethoflow.acoustic.stages import run_acoustic_corpus
from ethoflow.core.stage import run_stage, stage_main

main = stage_main(run_acoustic_corpus, __doc__)

if __name__ == "__main__":
    run_stage(main)
