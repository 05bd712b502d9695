"""moseq_arhmm: resumable kappa search for the AR-HMM (target median syllable duration), then the final fit."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_arhmm


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        keypoints="cleaned keypoints.p",
        pca_dir="moseq_pca's folder",
        out="search state, final AR-HMM, config.yml (persist)",
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_arhmm(cfg, keypoints=args.keypoints, pca_dir=args.pca_dir, out=args.out, params_path=args.params)


if __name__ == "__main__":
    run_stage(main)
