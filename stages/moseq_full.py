"""moseq_full: resumable kappa search for the full keypoint-SLDS warm-started from the AR-HMM, then the final fit."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_full


def main(argv=None):
    args = stage_args(
        __doc__, argv, arhmm_dir="moseq_arhmm's folder", out="search state, final full model, config.yml (persist)"
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_full(cfg, arhmm_dir=args.arhmm_dir, out=args.out, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
