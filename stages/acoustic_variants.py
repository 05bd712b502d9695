"""acoustic_variants: build one variant's train/val/test segments, noise mining and selection tables."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.variants import build_variant, write_variant
from ethoflow.core import load_section, read_json
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("--corpus", default="data/interim/acoustic/corpus/corpus_index.json")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    spec = cfg.variant(args.variant, args.params)
    index = read_json(args.corpus)
    features = cfg.variant_features(args.variant, args.params)
    df, vindex = build_variant(index, spec, features.seq_len_s)
    out = args.out or f"data/interim/acoustic/variants/{args.variant}"
    write_variant(out, df, vindex, index, spec.spectrogram_pngs, features, spec.seed)


if __name__ == "__main__":
    run_stage(main)
