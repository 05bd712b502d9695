"""moseq_seeds: fit the final model from n_seeds seeds (a job array), keep the highest EML; EML and confusion figures."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_seeds


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        keypoints="cleaned keypoints.p",
        pca_dir="moseq_pca's folder",
        arhmm_dir="moseq_arhmm's folder (AR-HMM kappa)",
        full_dir="moseq_full's folder (full-model kappa)",
        out="one model per seed and seeds.json (persist)",
        eml_plot="EML score per seed (PNG)",
        confusion_plot="chosen vs runner-up syllables (PNG)",
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_seeds(
        cfg,
        inputs={
            "keypoints": args.keypoints,
            "pca_dir": args.pca_dir,
            "arhmm_dir": args.arhmm_dir,
            "full_dir": args.full_dir,
        },
        out=args.out,
        eml_plot=args.eml_plot,
        confusion_plot=args.confusion_plot,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
