"""moseq_pca: fit PCA, latent_dim = fewest PCs reaching variance_threshold, pca.p and scree plot."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_pca


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        outliers_dir="moseq_outliers' folder",
        out="pca.p and config.yml",
        scree="scree plot PNG",
        metrics="PCA summary JSON",
        pcs="PC plot PNG (kpms plot_pcs)",
    )
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_pca(
        cfg, outliers_dir=args.outliers_dir, out=args.out, scree=args.scree, metrics=args.metrics, pcs=args.pcs
    )


if __name__ == "__main__":
    run_stage(main)
