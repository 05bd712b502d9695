"""moseq_pca: fit PCA, latent_dim = fewest PCs reaching variance_threshold, pca.p and scree plot."""

from ethoflow.core.stage import run_stage, stage_main
from ethoflow.moseq.stages import run_moseq_pca

main = stage_main(run_moseq_pca, __doc__)

if __name__ == "__main__":
    run_stage(main)
