"""acoustic_corpus: read recordings and annotations (crowsetta) into the corpus index and a bad-input report."""

from ethoflow.acoustic.corpus import build_corpus
from ethoflow.acoustic.params import AcousticParams
from ethoflow.core import load_section, write_json
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--out", default="data/interim/acoustic/corpus")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    index, report = build_corpus(cfg.corpus)
    write_json(f"{args.out}/corpus_index.json", index)
    write_json(f"{args.out}/report.json", report)


if __name__ == "__main__":
    run_stage(main)
