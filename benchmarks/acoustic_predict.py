"""Prediction speed side by side: ethoflow exact, ethoflow framewise, and ANIMAL-SPOT's per-window loop.

Methods, each run as its own process on the same tape (so "whole process" includes Python start-up,
imports and model loading, as a user meets it), interleaved, ``--repeats`` times, medians reported:

- ``exact``: ethoflow's window classifier (``predict_power``: the tape's spectrogram once, every
  window sliced from it, batches of 64), ResNet-18 width 64, window 0.4 s every ``--hop`` s.
- ``framewise``: ethoflow's framewise model (``predict_power_framewise``: one pass over the
  spectrogram, a probability per frame, pooled into ``--hop`` cells), default size.
- ``as-loop``: a reference that reproduces ANIMAL-SPOT's predictor (``naive_predict``: per window,
  its samples' spectrogram and a batch of one) with the same ResNet-18.
- ``as-model``: the lab's ANIMAL-SPOT model file (``../shared/data/audio/animal-spot/model.pk``,
  ResNet-18 without max pool, 11.2M parameters) through ethoflow as the pipeline runs it
  (``load_animal_spot``: BatchNorm folded into the convolutions, channels-last; ``predict_samples``:
  ANIMAL-SPOT's windows and front end, batches of 64, ``torch.inference_mode``), window 0.4 s every
  ``--hop`` s.
- ``as-model-jit``: as ``as-model``, the folded network then traced, frozen and optimised for
  inference by TorchScript (:func:`jit_inference`: oneDNN convolutions with prepacked weights and fused
  ReLU/residual adds), the conversion inside the timed compute.
- ``as-model-loop``: the same model file and windows through a **benchmark-only** re-implementation of
  ``predict.py``'s per-window loop (:func:`as_model_loop`: per window its own spectrogram and a batch of
  one, the file's layers unfolded), the like-for-like baseline when no ANIMAL-SPOT checkout is at hand; the ratio of the two and
  their largest probability difference are printed. ``--loop-windows N`` runs the loop on N evenly spaced
  windows only (a long tape); the like-for-like ratio is then per window, and the probability
  difference is over those windows.
- ``animal-spot`` (with ``--animal-spot DIR``, a checkout of ANIMAL-SPOT outside this repo): its own
  ``predict.py``, unchanged, as the shared data's README ran it (``--batch_size 1 --num_workers 0
  --no_cuda --min_max_norm``) on ``../shared/data/audio/animal-spot/model.pk`` (ANIMAL-SPOT's
  ResNet-18). It needs ``resampy``; its plotting helper imports ``torchvision``, which a CPU-only
  torch cannot load from PyPI, so a stub ``torchvision.utils`` is put on its ``PYTHONPATH`` when the
  real one is missing (prediction never calls it).

Every process gets one thread (``--threads``: ``torch.set_num_threads`` plus ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``). The weights are untrained (speed does not depend on
them). Printed: seconds of audio per second for the whole process and for the compute alone
(spectrogram + network), and each method's ratio to ANIMAL-SPOT's whole process (the real one when
given, else the ``as-loop`` reference).

    PYTHONPATH=src python benchmarks/acoustic_predict.py                       # 60 s tape, hop 0.05 s
    PYTHONPATH=src python benchmarks/acoustic_predict.py --animal-spot /tmp/animal-spot/ANIMAL-SPOT --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ETHOFLOW_SHARED_DATA", REPO.parent / "shared" / "data"))  # as tests/conftest.py
AS_MODEL = SHARED_DATA / "audio" / "animal-spot" / "model.pk"
METHODS = ("exact", "framewise", "as-loop", "as-model", "as-model-jit", "as-model-loop")


def as_model_loop(model, fe, classes, y, seq_len_s: float, hop_s: float, only=None):
    """Benchmark baseline only (not ANIMAL-SPOT's code, not part of the pipeline): a faithful
    re-implementation of ANIMAL-SPOT ``predict.py``'s per-window loop for its own model file, as the
    shared data's README ran it (``--batch_size 1 --num_workers 0 --no_cuda``): the recording loaded
    once, then for every window (its strided dataset: ANIMAL-SPOT's windows) its own samples ->
    spectrogram -> a batch of one through the network -> softmax. The front end and network are
    ethoflow's re-implementations (``ethoflow.acoustic.models.animal_spot``, parity 3.2e-7 with ``predict.py``),
    so the loop structure is the only difference from ``as-model``. Returns P(target) per window (``only``:
    the indices of the windows to run, default all)."""
    import numpy as np
    import torch

    from ethoflow.acoustic.models.animal_spot import window_inputs, window_samples

    starts, L, _ = window_samples(len(y), seq_len_s, hop_s, fe.sr)
    out = []
    with torch.no_grad():
        for s in starts if only is None else starts[only]:
            x = window_inputs(y[None, int(s) : int(s) + L], fe)
            out.append(float(torch.softmax(model(x), dim=1)[0, 1]))
    return np.asarray(out)


def jit_inference(model, x):
    """Benchmark-only: ``model`` (BatchNorm already folded by the loader) traced on the example batch ``x``,
    frozen and passed through ``torch.jit.optimize_for_inference`` (any batch size runs afterwards)."""
    import torch

    with torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))


def network_macs(model, x) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on a batch of one ``x`` (Conv2d and Linear layers)."""
    import torch

    macs = [0]

    def hook(m, _inp, out):
        if isinstance(m, torch.nn.Conv2d):
            macs[0] += out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            macs[0] += m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return macs[0]


def child(method: str, tape: str, model_path: str, hop: float, threads: int, loop_windows: int = 0) -> None:
    """One timed prediction in this process; prints ``{"compute_s": ..., "rows": ...}`` as JSON."""
    import torch

    if method.startswith("as-model"):  # the lab's ANIMAL-SPOT model file, through ethoflow or the loop
        import numpy as np

        from ethoflow.acoustic.frontend.spectrogram import load_audio
        from ethoflow.acoustic.models.animal_spot import (
            load_animal_spot,
            predict_samples,
            window_inputs,
            window_samples,
        )

        torch.set_num_threads(threads)
        # the loop runs the file's layers as ANIMAL-SPOT does; ethoflow's methods load as the pipeline does
        model, fe, classes = load_animal_spot(model_path, min_max_norm=True, fold=method != "as-model-loop")
        y = load_audio(tape, fe.sr)
        starts, L, _ = window_samples(len(y), 0.4, hop, fe.sr)
        idx = np.arange(len(starts))
        if method == "as-model-loop" and 0 < loop_windows < len(starts):  # a sample of windows (long tapes)
            idx = np.unique(np.linspace(0, len(starts) - 1, loop_windows).round().astype(int))
        macs = network_macs(model, window_inputs(y[None, :L], fe))
        t0 = time.perf_counter()
        if method == "as-model":
            prob = predict_samples(model, fe, classes, y, 0.4, hop, 64).prob.to_numpy()
        elif method == "as-model-jit":
            jit = jit_inference(model, window_inputs(y[None, :L].repeat(64, 0), fe))
            prob = predict_samples(jit, fe, classes, y, 0.4, hop, 64).prob.to_numpy()
        else:
            prob = as_model_loop(model, fe, classes, y, 0.4, hop, idx)
        dt = time.perf_counter() - t0
        np.save(Path(tape).with_name(f"{method}.npy"), np.stack([idx, prob]) if method == "as-model-loop" else prob)
        print(json.dumps({"compute_s": dt, "rows": len(prob), "audio_s": len(y) / fe.sr, "macs": macs}))
        return

    from ethoflow.acoustic.frontend.spectrogram import load_audio, recording_power
    from ethoflow.acoustic.inference.predict import naive_predict, predict_power
    from ethoflow.acoustic.models.framewise import load_framewise, predict_power_framewise
    from ethoflow.acoustic.params import FeatureParams
    from ethoflow.acoustic.training.train import load_model

    torch.set_num_threads(threads)
    ck = torch.load(model_path, weights_only=False)
    if ck.get("arch") == "framewise":
        model, f = load_framewise(ck), FeatureParams(**ck["features"])
    else:
        model, meta = load_model(model_path)
        f = FeatureParams(**meta["features"])
    duration = len(load_audio(tape, f.sr)) / f.sr
    t0 = time.perf_counter()
    if method == "exact":
        rows = len(predict_power(model, recording_power(tape, f), f, duration, f.seq_len_s, hop, 64))
    elif method == "framewise":
        rows = len(predict_power_framewise(model, recording_power(tape, f), f, duration, hop))
    else:
        rows = len(naive_predict(model, tape, f, duration, f.seq_len_s, hop))
    print(json.dumps({"compute_s": time.perf_counter() - t0, "rows": rows, "audio_s": duration}))


def _models(tmp: Path) -> dict[str, Path]:
    import torch

    from ethoflow.acoustic.models.framewise import FramewiseNet
    from ethoflow.acoustic.models.model import CallClassifier
    from ethoflow.acoustic.params import FeatureParams, FramewiseParams

    torch.manual_seed(0)
    f = FeatureParams()
    resnet = CallClassifier(2, 18, 64).eval()
    fw = FramewiseNet(f.n_freq_bins, 2, FramewiseParams()).eval()
    paths = {"resnet": tmp / "resnet.pt", "framewise": tmp / "framewise.pt"}
    common = {"classes": ["call"], "features": f.model_dump(), "best_epoch": 0}
    torch.save({"state_dict": resnet.state_dict(), "model": resnet.config, **common}, paths["resnet"])
    torch.save({"arch": "framewise", "state_dict": fw.state_dict(), "model": fw.config, **common}, paths["framewise"])
    return paths


def _as_pythonpath(tmp: Path) -> str:
    """PYTHONPATH for ANIMAL-SPOT's predict.py: a stub ``torchvision.utils`` when torchvision cannot load."""
    ok = subprocess.run([sys.executable, "-c", "import torchvision.utils"], capture_output=True).returncode == 0
    if ok:
        return os.environ.get("PYTHONPATH", "")
    stub = tmp / "stub" / "torchvision"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text('"""Stub: ANIMAL-SPOT imports torchvision only for plotting."""\n')
    (stub / "utils.py").write_text("def make_grid(*a, **k):\n    raise NotImplementedError('torchvision stub')\n")
    return os.pathsep.join(filter(None, [str(tmp / "stub"), os.environ.get("PYTHONPATH", "")]))


def _like_for_like(tmp: Path, cmds: dict, compute: dict, whole: dict, rows: dict, macs: dict, args) -> None:
    """Print each ANIMAL-SPOT-model method against the per-window loop: ms per window (compute medians), the
    ratio per window, the network's GFLOP/s (2 x MACs per window / time per window), the largest probability
    difference over the windows both ran; whole-process ratio when the loop ran every window."""
    import numpy as np

    loop = np.load(tmp / "as-model-loop.npy")
    idx, p_loop = loop[0].astype(int), loop[1]
    ms_loop = 1000 * statistics.median(compute["as-model-loop"]) / rows["as-model-loop"]
    gf = 2 * macs["as-model-loop"] / 1e6
    sample = (
        f"a sample of {len(idx)} evenly spaced windows" if len(idx) < rows.get("as-model", len(idx)) else "every window"
    )
    print(
        f"like for like (ANIMAL-SPOT model file {AS_MODEL.name}, {macs['as-model-loop'] / 1e6:.1f}M MACs per window; "
        f"loop on {sample}): as-model-loop {ms_loop:.2f} ms/window ({gf / ms_loop:.1f} GFLOP/s)"
    )
    for m in [m for m in cmds if m in ("as-model", "as-model-jit")]:
        p = np.load(tmp / f"{m}.npy")
        ms = 1000 * statistics.median(compute[m]) / rows[m]
        line = (
            f"  {m}: {ms:.2f} ms/window ({gf / ms:.1f} GFLOP/s), {rows[m]} windows; per window {ms_loop / ms:.2f}x the loop; "
            f"largest probability difference to the loop {np.abs(p[idx] - p_loop).max():.1e}"
        )
        if len(idx) == rows[m]:
            line += (
                f"; compute {statistics.median(compute['as-model-loop']) / statistics.median(compute[m]):.2f}x, "
                f"whole process {statistics.median(whole['as-model-loop']) / statistics.median(whole[m]):.2f}x"
            )
        print(line)
    if args.animal_spot and "as-model" in cmds:
        print(
            f"ethoflow on the model file vs ANIMAL-SPOT's predict.py (whole process): "
            f"{statistics.median(whole['animal-spot']) / statistics.median(whole['as-model']):.2f}x"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the benchmark tape (s)")
    ap.add_argument("--hop", type=float, default=0.05, help="window hop / framewise cell (s)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of every process")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved runs of each method; medians reported")
    ap.add_argument("--animal-spot", type=Path, default=None, help="ANIMAL-SPOT folder holding predict.py")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=None, help="default: all")
    ap.add_argument(
        "--loop-windows", type=int, default=0, help="as-model-loop: only this many evenly spaced windows (0: all)"
    )
    ap.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--tape", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.tape, args.model, args.hop, args.threads, args.loop_windows)
        return

    from ethoflow.acoustic.params import DemoParams
    from ethoflow.demo.acoustic import generate

    n = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, ETHOFLOW_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        generate(tmp, DemoParams(n_tapes=1, recordings_per_tape=1, recording_s=args.seconds, sr=48000))
        tape = tmp / "T01_r1.wav"
        models = _models(tmp)
        cmds: dict[str, tuple[list[str], dict[str, str]]] = {}
        for m in METHODS if args.methods is None else args.methods:
            model = AS_MODEL if m.startswith("as-model") else models["framewise" if m == "framewise" else "resnet"]
            cmd = [sys.executable, __file__, "--child", m, "--tape", str(tape), "--model", str(model)]
            cmds[m] = (cmd + ["--hop", str(args.hop), "--threads", n, "--loop-windows", str(args.loop_windows)], env)
        if args.animal_spot:
            script = args.animal_spot / "predict.py"
            if not script.is_file() or not AS_MODEL.is_file():
                sys.exit(f"--animal-spot: need {script} and {AS_MODEL}")
            as_env = dict(env, PYTHONPATH=_as_pythonpath(tmp))
            cmd = [sys.executable, str(script), "--model_path", str(AS_MODEL), "--input_file", str(tape)]
            cmd += ["--sequence_len", "0.4", "--hop", str(args.hop), "--batch_size", "1", "--num_workers", "0"]
            cmds["animal-spot"] = (cmd + ["--no_cuda", "--min_max_norm"], as_env)
        whole: dict[str, list[float]] = {m: [] for m in cmds}
        compute: dict[str, list[float]] = {m: [] for m in cmds}
        rows: dict[str, int] = {}
        macs: dict[str, int] = {}
        for _ in range(args.repeats):
            for m, (cmd, e) in cmds.items():
                t0 = time.perf_counter()
                res = subprocess.run(cmd, env=e, capture_output=True, text=True, cwd=tmp)
                whole[m].append(time.perf_counter() - t0)
                if res.returncode != 0:
                    sys.exit(f"{m} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
                if m != "animal-spot":
                    out = json.loads(res.stdout.strip().splitlines()[-1])
                    compute[m].append(out["compute_s"])
                    rows[m] = out["rows"]
                    macs[m] = out.get("macs", 0)
                else:
                    rows[m] = sum("time=" in line for line in (res.stdout + res.stderr).splitlines())
        if "as-model-loop" in cmds:
            _like_for_like(tmp, cmds, compute, whole, rows, macs, args)
    ref = "animal-spot" if args.animal_spot else ("as-loop" if "as-loop" in cmds else next(iter(cmds)))
    ref_whole = statistics.median(whole[ref])
    print(
        f"tape {args.seconds:g} s at 48 kHz, window 0.4 s, hop {args.hop} s, {args.threads} thread(s) per process, "
        f"{args.repeats} interleaved repeats (medians); ratio = {ref}'s whole-process time / the method's"
    )
    print(
        f"{'method':<12} {'rows':>6} {'whole: s':>9} {'audio s/s':>10} {'compute: s':>11} {'audio s/s':>10} {'ratio':>7}"
    )
    if "as-model-loop" in cmds and rows["as-model-loop"] < rows.get("as-model", 0):
        print(
            "(as-model-loop ran a sample of the windows: its times here are for that sample; see the per-window line)"
        )
    for m in cmds:
        w = statistics.median(whole[m])
        c = statistics.median(compute[m]) if compute[m] else float("nan")
        print(
            f"{m:<12} {rows[m]:6d} {w:9.2f} {args.seconds / w:10.1f} {c:11.2f} {args.seconds / c:10.1f} "
            f"{ref_whole / w:6.1f}x"
        )


if __name__ == "__main__":
    main()
