"""acoustic_evaluate: threshold and chain windows into detections, Raven tables, greedy + Hungarian IoU matching."""

from ethoflow import dispatch
from ethoflow.acoustic.evaluate import evaluate_item
from ethoflow.acoustic.stage import matrix_item
from ethoflow.core.stage import run_stage


def main(argv=None):
    it = matrix_item(__doc__, argv)
    out = f"data/processed/acoustic/detections/{it.name}"
    dispatch.run(
        evaluate_item,
        it,
        f"data/processed/acoustic/predictions/{it.name}/predictions.parquet",
        "data/interim/acoustic/corpus/corpus_index.json",
        out,
        f"{out}/metrics.json",
        stage=f"acoustic_evaluate@{it.name}",
        params_path=it.params,
    )


if __name__ == "__main__":
    run_stage(main)
