"""acoustic_detect: run one detection set's model over its unannotated recordings (Raven tables, Parquet, metrics)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_detect
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("name", help="detection set (a key of acoustic.detect.sets)")
    parser.add_argument(
        "--evaluations", required=True, help="acoustic_evaluate's outs (<variant>-<setting>/postprocess.json)"
    )
    parser.add_argument("--out", required=True, help="output folder of the set (a DVC persist out)")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_detect(cfg, args.name, out=args.out, evaluations=args.evaluations, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
