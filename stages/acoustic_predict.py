"""acoustic_predict: per-window call probabilities for every recording (one variant's model x one setting)."""

from ethoflow import dispatch
from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.predict import predict_recordings
from ethoflow.core import load_section, read_json
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("variant")
    parser.add_argument("setting")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    cfg.variant(args.variant, args.params)
    s = cfg.setting(args.setting, args.params)
    recs = read_json(f"data/interim/acoustic/variants/{args.variant}/variant_index.json")["recordings"]
    dispatch.run(
        predict_recordings, f"models/acoustic/{args.variant}/model.pt", recs, s.seq_len_s, s.hop_s,
        f"data/processed/acoustic/predictions/{args.variant}-{args.setting}/predictions.parquet",
        cfg.predict.batch_size, cfg.predict.num_threads,
        stage=f"acoustic_predict@{args.variant}-{args.setting}", params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
