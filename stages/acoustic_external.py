"""acoustic_external: predict and evaluate a variant's tapes with an existing ANIMAL-SPOT model file."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_external
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("name", help="external model (a key of acoustic.external)")
    parser.add_argument("setting", help="prediction setting (a key of acoustic.predict.settings)")
    parser.add_argument("--variants-dir", required=True, help="folder of the variants (<variant>/variant_index.json)")
    parser.add_argument("--predictions", required=True, help="window probabilities (Parquet) to write")
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (ground truth)")
    parser.add_argument("--out", required=True, help="evaluation folder (detections, tables, metrics.json)")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_external(
        cfg,
        args.name,
        args.setting,
        variants_dir=args.variants_dir,
        predictions=args.predictions,
        corpus_index=args.corpus_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
