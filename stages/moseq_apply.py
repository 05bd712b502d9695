"""moseq_apply: apply the chosen model to a named set of new sessions (syllables, frequencies, transition graphs)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_parser
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_apply


def main(argv=None):
    parser = stage_parser(__doc__)
    parser.add_argument("--set", required=True, help="name of the session set in moseq.apply.sets")
    parser.add_argument("--model-dir", required=True, help="moseq_results' folder (the chosen model)")
    parser.add_argument("--out", required=True, help="syllables per frame, frequencies, summary")
    parser.add_argument("--plots", required=True, help="figures folder (transition graph per group)")
    args = parser.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    run_moseq_apply(
        cfg,
        set_name=args.set,
        model_dir=args.model_dir,
        out=args.out,
        plots=args.plots,
        params_path=args.params,
    )


if __name__ == "__main__":
    run_stage(main)
