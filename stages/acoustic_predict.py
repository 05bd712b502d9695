"""acoustic_predict: per-window call probabilities for every recording (one variant's model x one setting)."""

from ethoflow import dispatch
from ethoflow.acoustic.predict import predict_recordings
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    s, cfg = it.setting, it.cfg
    dispatch.run(
        predict_recordings,
        f"models/acoustic/{it.variant}/model.pt",
        it.vindex["recordings"],
        s.seq_len_s,
        s.hop_s,
        f"data/processed/acoustic/predictions/{it.name}/predictions.parquet",
        cfg.predict.batch_size,
        cfg.predict.num_threads,
        stage=f"acoustic_predict@{it.name}",
        params_path=it.params,
    )


if __name__ == "__main__":
    run_stage(main)
