"""moseq_apply: apply the chosen model to a named set of new sessions (syllables, frequencies, transition graphs)."""

from ethoflow.core import load_section
from ethoflow.core.stage import run_stage, stage_args
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.stages import run_moseq_apply


def main(argv=None):
    args = stage_args(
        __doc__,
        argv,
        set="name of the session set in moseq.apply.sets",
        model_dir="moseq_results' folder (the chosen model)",
        out="syllables per frame, frequencies, summary",
        plots="figures folder (transition graph per group)",
    )
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
