"""acoustic_learning_curve: F1 (mean and spread over seeds) against training audio; evaluation/index.json."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_learning_curve
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        points="folder of the acoustic_lc points",
        out="folder: curve.csv, learning_curve.png",
        index="evaluation/index.json to write",
        metrics="headline metrics JSON",
        evaluations={"nargs": "+", "help": "evaluation folders to index"},
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_learning_curve(
        cfg, points=args.points, out=args.out, index=args.index, metrics=args.metrics, evaluations=args.evaluations
    )


if __name__ == "__main__":
    run_stage(main)
