"""acoustic_train: train the ResNet call classifier on one variant (dispatched; checkpoint + resume, DVCLive)."""

from ethoflow import dispatch
from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.train import train_model
from ethoflow.core import load_section, state_dir
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    cfg.variant(args.variant, args.params)
    out = f"models/acoustic/{args.variant}"
    dispatch.run(
        train_model,
        f"data/interim/acoustic/variants/{args.variant}",
        out,
        cfg.variant_features(args.variant, args.params),
        cfg.train,
        str(state_dir("checkpoints", "acoustic_train", args.variant)),
        live_dir=f"{out}/dvclive",
        stage=f"acoustic_train@{args.variant}",
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
