"""acoustic_predict: per-window call probabilities for every recording (one variant's model x one setting)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_predict
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant", help="variant name (acoustic.variants)")
    parser.add_argument("setting", help="prediction setting (acoustic.predict.settings)")
    parser.add_argument("--model", required=True, help="the variant's model.pt")
    parser.add_argument("--variant-index", required=True, help="the variant's variant_index.json")
    parser.add_argument("--out", required=True, help="folder of predictions.parquet")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_predict(
        cfg,
        variant=args.variant,
        setting=args.setting,
        model=args.model,
        variant_index=args.variant_index,
        out=args.out,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
