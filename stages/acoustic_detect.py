"""acoustic_detect: run one detection set's model over its unannotated recordings (Raven tables, Parquet, metrics)."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.stages import run_acoustic_detect
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        ("name", "detection set (a key of acoustic.detect.sets)"),
        evaluations="acoustic_evaluate's outs (<variant>-<setting>/postprocess.json)",
        out="output folder of the set (a DVC persist out)",
    )
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_detect(cfg, name=args.name, out=args.out, evaluations=args.evaluations, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
