"""moseq_pca: fit PCA, latent_dim = fewest PCs reaching variance_threshold, pca.p and scree plot."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.prepare import pca


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--in-dir", default="data/interim/moseq/outliers")
    parser.add_argument("--out", default="models/moseq/pca")
    parser.add_argument("--scree", default="reports/moseq/pca_scree.png")
    parser.add_argument("--metrics", default="models/moseq/pca/pca.json", help="PCA summary JSON")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    pca(cfg, args.in_dir, args.out, args.scree, args.metrics)


if __name__ == "__main__":
    run_stage(main)
