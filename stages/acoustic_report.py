"""acoustic_report: headline metrics (cnn vs rf), metrics.csv, metrics_per_tape.csv, PR curves, confusion tables, plot data."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import ReportPaths
from ethoflow.acoustic.stages import run_acoustic_report
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--corpus-index", required=True, help="corpus_index.json (ground truth)")
    parser.add_argument("--variants-dir", required=True, help="folder of the variants (<variant>/variant_index.json)")
    parser.add_argument("--detections-dir", required=True, help="folder of the cnn layer's items")
    parser.add_argument("--filtered-dir", required=True, help="folder of the rf layer's items")
    parser.add_argument("--models-dir", required=True, help="folder of the models (<variant>/history.json)")
    parser.add_argument("--detect-dir", required=True, help="folder of the detection sets (<set>/metrics.json)")
    parser.add_argument("--metrics", required=True, help="headline metrics (numbers only)")
    parser.add_argument("--reports", required=True, help="folder of the tables, figures and plot data")
    args = parser.parse_args(argv)
    cfg = load_section("acoustic", AcousticParams, args.params)
    run_acoustic_report(
        cfg,
        paths=ReportPaths(
            corpus_index=args.corpus_index,
            variants_dir=args.variants_dir,
            detections_dir=args.detections_dir,
            filtered_dir=args.filtered_dir,
            models_dir=args.models_dir,
            metrics=args.metrics,
            reports=args.reports,
            detect_dir=args.detect_dir,
        ),
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
