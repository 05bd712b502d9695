"""The moseq final fit's checkpoint/resume mechanism (``ethoflow.moseq.fit.continue_fit`` on
keypoint-moseq's ``fit_model`` and ``checkpoint.h5``) for the engine-level kill test, with jax-moseq's
Gibbs sweep replaced by a cheap one that draws from the model's own PRNG key exactly as jax-moseq does
(split ``model["seed"]``, draw, store the new key), so the test costs seconds, not a model fit.

Usage: ``python moseq_worker.py killed RUN_DIR KILL`` (writes the trial checkpoint, then runs the final
fit and is killed: ``iN`` SIGKILLs it when its N-th Gibbs sweep starts, ``sN`` inside its N-th snapshot
write, after the copy is written and before it replaces the checkpoint, ``tX`` X seconds after the fit
starts), then ``python moseq_worker.py finish OUT_DIR RUN_DIR...`` (the uninterrupted reference in
OUT_DIR/ref, then each killed run rerun to its end; one JSON line per run: ``{"run", "same_checkpoint",
"snapshots"}``). keypoint-moseq starts JAX's thread pool on import, so the runs are processes, not forks.
"""

import json
import os
import signal
import sys
import threading

import numpy as np

TRIAL_ITER, END_ITER, SAVE_EVERY = 5, 30, 4


def fake_resample(data, seed, states, params, hypparams, noise_prior, **_kw):
    import jax.numpy as jnp
    import jax.random as jr

    if _KILL.get("iter") is not None:
        _KILL["calls"] += 1
        if _KILL["calls"] == _KILL["iter"]:
            os.kill(os.getpid(), signal.SIGKILL)
    seed, k1, k2 = jr.split(jnp.asarray(seed), 3)
    z = jr.randint(k1, states["z"].shape, 0, 4)
    x = states["x"] * 0.9 + jr.normal(k2, states["x"].shape)
    return {
        "seed": seed,
        "states": {"z": z, "x": x},
        "params": {"pi": params["pi"] * 0.99 + 0.01 * jnp.mean(x)},
        "hypparams": hypparams,
        "noise_prior": noise_prior,
    }


_KILL: dict = {}


def make_trial(project: str) -> None:
    import keypoint_moseq.io as kio

    rng = np.random.default_rng(0)
    model = {
        "seed": np.array([0, 42], dtype=np.uint32),
        "states": {"z": rng.integers(0, 4, (2, 60)), "x": rng.normal(size=(2, 60, 3))},
        "params": {"pi": np.full((4, 4), 0.25)},
        "hypparams": {"trans_hypparams": {"kappa": np.float64(1e4)}},
        "noise_prior": np.ones((2, 60, 5)),
    }
    data = {"mask": np.ones((2, 60)), "Y": rng.normal(size=(2, 60, 5, 2))}
    os.makedirs(os.path.join(project, "trial"), exist_ok=True)
    kio.save_hdf5(
        os.path.join(project, "trial", "checkpoint.h5"),
        {
            "model_snapshots": {str(TRIAL_ITER): model},
            "metadata": (["s1", "s2"], np.array([[0, 60], [0, 60]])),
            "data": data,
        },
    )


def final_fit(project: str, kill: str | None = None) -> None:
    import jax_moseq.models.keypoint_slds as ks
    import keypoint_moseq.fitting as kf

    from ethoflow.moseq import fit

    ks.resample_model = fake_resample
    _KILL.update(iter=None, calls=0)
    if kill and kill[0] == "i":
        _KILL["iter"] = int(kill[1:])
    elif kill and kill[0] == "t":
        threading.Timer(float(kill[1:]), os.kill, (os.getpid(), signal.SIGKILL)).start()
    elif kill and kill[0] == "s":
        original, n = kf.save_hdf5, {"saves": 0}

        def dying_save(path, *a, **kw):
            original(path, *a, **kw)
            n["saves"] += 1
            if n["saves"] == int(kill[1:]):
                os.kill(os.getpid(), signal.SIGKILL)

        kf.save_hdf5 = dying_save
    spec = {
        "kind": "full",
        "project_dir": project,
        "final_name": "final",
        "trial_name": "trial",
        "end_iter": END_ITER,
        "save_every": SAVE_EVERY,
        "root": project,
    }
    fit.continue_fit(spec)


def snapshots(path: str) -> list[int]:
    import h5py

    with h5py.File(path, "r") as f:
        return sorted(int(k) for k in f["model_snapshots"])


def main(mode: str, out: str, args: list[str]) -> None:
    if mode == "killed":  # one run dir: the trial, then the final fit, killed as ``args[0]`` says
        make_trial(out)
        final_fit(out, args[0])
        return
    # "finish": the uninterrupted reference, then every killed run dir rerun to its end and compared
    ref = os.path.join(out, "ref")
    make_trial(ref)
    final_fit(ref)
    ref_bytes = open(os.path.join(ref, "final", "checkpoint.h5"), "rb").read()
    for run in args:
        final_fit(run)
        ckpt = os.path.join(run, "final", "checkpoint.h5")
        row = {"run": os.path.basename(run), "same_checkpoint": open(ckpt, "rb").read() == ref_bytes}
        print(json.dumps({**row, "snapshots": snapshots(ckpt)}), flush=True)
    print(json.dumps({"reference_snapshots": snapshots(os.path.join(ref, "final", "checkpoint.h5"))}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
