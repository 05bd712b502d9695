"""moseq_results: reindex syllables, extract results (h5 + csv), summary metrics and plots."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_results


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        arhmm_dir="moseq_arhmm's folder",
        full_dir="moseq_full's folder",
        seeds_dir="moseq_seeds' folder (the chosen seed's model)",
        keypoints="cleaned keypoints.p (grid movies)",
        grid_movies="folder of the grid movies per syllable",
        pca_summary="PCA summary JSON",
        out="results folder",
        summary="summary JSON",
        plots="figures folder",
        metrics="headline metrics JSON (numbers only)",
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_results(
        cfg,
        inputs={
            "arhmm_dir": args.arhmm_dir,
            "full_dir": args.full_dir,
            "seeds_dir": args.seeds_dir,
            "keypoints": args.keypoints,
            "pca_summary": args.pca_summary,
        },
        grid_movies=args.grid_movies,
        out=args.out,
        summary=args.summary,
        plots=args.plots,
        metrics=args.metrics,
    )


if __name__ == "__main__":
    run_stage(main)
