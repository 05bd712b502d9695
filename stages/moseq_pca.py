"""moseq_pca: fit PCA, latent_dim = fewest PCs reaching variance_threshold, pca.p and scree plot."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_pca


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--outliers-dir", required=True, help="moseq_outliers' folder")
    parser.add_argument("--out", required=True, help="pca.p and config.yml")
    parser.add_argument("--scree", required=True, help="scree plot PNG")
    parser.add_argument("--metrics", required=True, help="PCA summary JSON")
    parser.add_argument("--pcs", required=True, help="PC plot PNG (kpms plot_pcs)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_pca(
        cfg, outliers_dir=args.outliers_dir, out=args.out, scree=args.scree, metrics=args.metrics, pcs=args.pcs
    )


if __name__ == "__main__":
    run_stage(main)
