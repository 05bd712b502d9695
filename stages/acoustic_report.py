"""acoustic_report: headline metrics (cnn vs rf), metrics.csv, metrics_per_tape.csv, PR curves, confusion tables, plot data."""

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import ReportPaths
from ethoflow.acoustic.stages import run_acoustic_report
from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        corpus_index="corpus_index.json (ground truth)",
        variants_dir="folder of the variants (<variant>/variant_index.json)",
        detections_dir="folder of the cnn layer's items",
        filtered_dir="folder of the rf layer's items",
        models_dir="folder of the models (<variant>/history.json)",
        detect_dir="folder of the detection sets (<set>/metrics.json)",
        metrics="headline metrics (numbers only)",
        reports="folder of the tables, figures and plot data",
    )
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
