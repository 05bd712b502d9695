"""acoustic_learning_curve: F1 (mean and spread over seeds) against training audio; evaluation/index.json."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_learning_curve
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--points", required=True, help="folder of the acoustic_lc points")
    parser.add_argument("--out", required=True, help="folder: curve.csv, learning_curve.png")
    parser.add_argument("--index", required=True, help="evaluation/index.json to write")
    parser.add_argument("--metrics", required=True, help="headline metrics JSON")
    parser.add_argument("--evaluations", nargs="+", required=True, help="evaluation folders to index")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_learning_curve(
        cfg, points=args.points, out=args.out, index=args.index, metrics=args.metrics, evaluations=args.evaluations
    )


if __name__ == "__main__":
    run_stage(main)
