"""acoustic_corpus: read recordings and annotations (crowsetta) into the corpus index and a bad-input report."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_corpus
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(__doc__, argv, out="folder of corpus_index.json and report.json")
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_corpus(cfg, out=args.out)


if __name__ == "__main__":
    run_stage(main)
