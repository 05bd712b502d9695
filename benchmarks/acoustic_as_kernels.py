"""What each CPU kernel option gives the lab's ANIMAL-SPOT model file: speed per window and parity.

In one process, one thread, on the shared ANIMAL-SPOT tape (``../shared/data/audio/animal-spot/tape.wav``,
193 windows of 0.4 s every 0.05 s, min-max norm) and its model file: each option classifies the tape's
windows, and its largest window-probability difference is printed against ANIMAL-SPOT's own logged
predictions (``tape_predict_output.log``) and against the per-window loop (a batch of one per window,
torch defaults: the like-for-like baseline of ``benchmarks/acoustic_predict.py``); then the options are
timed on the first 128 windows (the loop on 64), ``--repeats`` interleaved rounds, medians and minima in
ms per window. Options (benchmark-only apart from ``pipeline``, what the pipeline runs):

- ``loop``: the per-window loop (batch 1, the file's layers). ``unfolded``: batches of 64, the file's
  layers. ``pipeline``: what ``acoustic_predict``/``acoustic_detect`` run (``load_animal_spot``: BatchNorm
  folded into the convolutions by :func:`~ethoflow.acoustic.models.animal_spot.fold_batchnorm`,
  channels-last; batches of 64).
- ``fold``: folded, contiguous (not channels-last) activations; ``fold b128`` / ``fold b256``: larger batches.
- ``mkldnn``: oneDNN's blocked layout kept between layers (``torch.utils.mkldnn.to_mkldnn``).
- ``jit``: TorchScript trace, freeze and ``optimize_for_inference`` (conv/BN/ReLU fusion, prepacked weights).
- ``fused``: the same fusions in eager mode (:class:`FusedResNet`, ANIMAL-SPOT's ResNet-18/34 only):
  oneDNN convolutions (``torch.ops.mkldnn._convolution_pointwise``) with weights reordered once, ReLU and
  the residual add + ReLU fused into them, channels-last activations.
- ``nnpack``: NNPACK's convolution (``torch._nnpack_spatial_convolution``, Winograd for 3x3) for every
  3x3 stride-1 convolution. ``winograd``: F(2x2, 3x3) Winograd (Lavin & Gray 2016) written with torch
  tensor ops for the same convolutions (weights transformed once, in float64).
- ``bf16``: oneDNN convolutions with bf16 arithmetic (``torch.backends.mkldnn.conv.fp32_precision``),
  run last because it is a process-wide switch.

Also printed: this core's float32 matrix-multiply rate (``torch.mm`` of two 2048 x 2048 matrices, one
thread, the best of ``--repeats``), the practical ceiling of any direct convolution, and what 4x the
loop's rate would ask of it.

    ETHOFLOW_SHARED_DATA=../shared/data PYTHONPATH=src python benchmarks/acoustic_as_kernels.py --repeats 7
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from acoustic_predict import network_macs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AS_DIR = Path(os.environ.get("ETHOFLOW_SHARED_DATA", REPO.parent / "shared" / "data")) / "audio" / "animal-spot"
LOG_LINE = re.compile(r".*time=([\d.]+)-([\d.]+).*pred=(\d).*prob=([\d.e-]+)")
G = torch.tensor([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=torch.float64)


class WinogradConv(torch.nn.Module):
    """F(2x2, 3x3) Winograd for a 3x3, stride-1, padding-1 convolution (eval only): input tiles of 4x4 every
    2 samples -> B^T d B, 16 batched matrix products with the transformed weights G g G^T, -> A^T m A."""

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        u = torch.einsum("ij,kcjl,ml->imkc", G, conv.weight.detach().double(), G)  # (4, 4, K, C)
        self.u = u.reshape(16, u.shape[2], u.shape[3]).transpose(1, 2).contiguous().float()  # (16, C, K)
        self.bias = None if conv.bias is None else conv.bias.detach().view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        nh, nw = (h + 1) // 2, (w + 1) // 2
        d = torch.nn.functional.pad(x, (1, 2 * nw + 1 - w, 1, 2 * nh + 1 - h)).unfold(2, 4, 2).unfold(3, 4, 2)
        r = (
            d[..., 0, :] - d[..., 2, :],
            d[..., 1, :] + d[..., 2, :],
            d[..., 2, :] - d[..., 1, :],
            d[..., 1, :] - d[..., 3, :],
        )
        t = torch.stack(r, -2)
        v = torch.stack(
            (t[..., 0] - t[..., 2], t[..., 1] + t[..., 2], t[..., 2] - t[..., 1], t[..., 1] - t[..., 3]), -1
        )
        m = torch.bmm(v.permute(4, 5, 0, 2, 3, 1).reshape(16, b * nh * nw, c), self.u).view(4, 4, b, nh, nw, -1)
        s = torch.stack((m[0] + m[1] + m[2], m[1] - m[2] - m[3]), 0)
        o = torch.stack((s[:, 0] + s[:, 1] + s[:, 2], s[:, 1] - s[:, 2] - s[:, 3]), 1)
        o = o.permute(2, 5, 3, 0, 4, 1).reshape(b, -1, 2 * nh, 2 * nw)[:, :, :h, :w]
        return o if self.bias is None else o + self.bias


class NnpackConv(torch.nn.Module):
    """A 3x3 stride-1 convolution through NNPACK (``torch._nnpack_spatial_convolution``)."""

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        self.w, self.pad = conv.weight.detach(), conv.padding
        self.b = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch._nnpack_spatial_convolution(x.contiguous(), self.w, self.b, self.pad)


class MkldnnNet(torch.nn.Module):
    """The network with oneDNN's blocked tensors between layers (dense in, dense logits out)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        from torch.utils import mkldnn

        self.m = mkldnn.to_mkldnn(copy.deepcopy(model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.m.classifier(self.m.encoder(x.to_mkldnn()).to_dense())


class FusedResNet(torch.nn.Module):
    """ANIMAL-SPOT's basic-block ResNet (BatchNorm folded) as fused oneDNN convolutions: conv1 + ReLU, then per
    block conv1 + ReLU and conv2 + residual add + ReLU (the shortcut a 1x1 conv when it has one)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        from ethoflow.acoustic.models.animal_spot import fold_batchnorm

        f = fold_batchnorm(copy.deepcopy(model))
        e, self.classifier = f.encoder, f.classifier

        def conv(c):
            p, s = list(c.padding), list(c.stride)
            w = torch.ops.mkldnn._reorder_convolution_weight(c.weight.detach(), p, s, [1, 1], c.groups, None)
            return w, c.bias.detach() if c.bias is not None else None, p, s, [1, 1], c.groups

        self.stem = conv(e.conv1)
        self.blocks = [
            (conv(b.conv1), conv(b.conv2), conv(b.short[0]) if isinstance(b.short, torch.nn.Sequential) else None)
            for layer in (e.layer1, e.layer2, e.layer3, e.layer4)
            for b in layer
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        op = torch.ops.mkldnn._convolution_pointwise
        x = op(x.contiguous(memory_format=torch.channels_last), *self.stem, "relu", [], "")
        for c1, c2, short in self.blocks:
            r = x if short is None else op(x, *short, "none", [], "")
            x = op.binary(op(x, *c1, "relu", [], ""), r, *c2, "add", 1.0, "relu", [], "")
        return self.classifier(x)


def replace_3x3(model: torch.nn.Module, make) -> torch.nn.Module:
    """A copy of ``model`` with every 3x3 stride-1 Conv2d replaced by ``make(conv)``."""
    model = copy.deepcopy(model)
    for mod in list(model.modules()):
        for name, c in list(mod.named_children()):
            if isinstance(c, torch.nn.Conv2d) and c.kernel_size == (3, 3) and c.stride == (1, 1) and c.groups == 1:
                setattr(mod, name, make(c))
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timing rounds")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from ethoflow.acoustic.frontend.spectrogram import load_audio
    from ethoflow.acoustic.models.animal_spot import fold_batchnorm, load_animal_spot, window_inputs, window_samples

    model, fe, _ = load_animal_spot(AS_DIR / "model.pk", min_max_norm=True, fold=False)
    pipeline, _, _ = load_animal_spot(AS_DIR / "model.pk", min_max_norm=True)
    y = load_audio(AS_DIR / "tape.wav", fe.sr)
    starts, L, _ = window_samples(len(y), 0.4, 0.05, fe.sr)
    segs = y[starts[:, None] + np.arange(L)[None, :]]
    ref = np.array(
        [float(LOG_LINE.match(s).group(4)) for s in (AS_DIR / "tape_predict_output.log").open() if s.strip()]
    )

    def batched(m, s, bs=64, cl=False):
        out = []
        with torch.inference_mode():
            for k in range(0, len(s), bs):
                x = window_inputs(s[k : k + bs], fe)
                out.append(
                    torch.softmax(m(x.contiguous(memory_format=torch.channels_last) if cl else x).double(), 1)[:, 1]
                )
        return torch.cat(out).numpy()

    def loop(s):
        with torch.no_grad():
            return np.array([float(torch.softmax(model(window_inputs(w[None], fe)), 1)[0, 1]) for w in s])

    folded = fold_batchnorm(copy.deepcopy(model)).to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        jit = torch.jit.optimize_for_inference(
            torch.jit.freeze(torch.jit.trace(copy.deepcopy(folded), window_inputs(segs[:64], fe)))
        )
    nnp, wino, mk = replace_3x3(folded, NnpackConv), replace_3x3(folded, WinogradConv), MkldnnNet(folded)
    fused = FusedResNet(model)
    options = {
        "loop": loop,
        "unfolded": lambda s: batched(model, s),
        "pipeline": lambda s: batched(pipeline, s, cl=True),
        "fold": lambda s: batched(folded, s),
        "fold b128": lambda s: batched(folded, s, 128),
        "fold b256": lambda s: batched(folded, s, 256),
        "mkldnn": lambda s: batched(mk, s),
        "jit": lambda s: batched(jit, s),
        "fused": lambda s: batched(fused, s),
        "nnpack": lambda s: batched(nnp, s),
        "winograd": lambda s: batched(wino, s),
    }
    macs = network_macs(model, window_inputs(segs[:1], fe))
    print(f"{len(segs)} windows, {macs / 1e6:.1f}M MACs per window, 1 thread, torch {torch.__version__}")
    p_loop = loop(segs)
    diffs = {k: (np.abs(p - ref).max(), np.abs(p - p_loop).max()) for k, f in options.items() for p in [f(segs)]}
    times: dict[str, list[float]] = {k: [] for k in options}
    for _ in range(args.repeats):
        for k, f in options.items():
            s = segs[:64] if k == "loop" else segs[:128]
            t0 = time.perf_counter()
            f(s)
            times[k].append(1000 * (time.perf_counter() - t0) / len(s))
    torch.backends.mkldnn.conv.fp32_precision = "bf16"  # process-wide: last
    p = batched(folded, segs)
    diffs["bf16"] = (np.abs(p - ref).max(), np.abs(p - p_loop).max())
    times["bf16"] = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        batched(folded, segs[:128])
        times["bf16"].append(1000 * (time.perf_counter() - t0) / 128)
    gemm = sgemm_gflops(args.repeats)
    loop_ms = statistics.median(times["loop"])
    print(f"{'option':<10} {'ms/window':>9} {'min':>6} {'GFLOP/s':>8} {'loop/this':>9} {'|p-log|':>8} {'|p-loop|':>8}")
    for k, v in times.items():
        med = statistics.median(v)
        print(
            f"{k:<10} {med:9.2f} {min(v):6.2f} {2 * macs / 1e6 / med:8.1f} {loop_ms / med:8.2f}x "
            f"{diffs[k][0]:8.1e} {diffs[k][1]:8.1e}"
        )
    need = 4 * 2 * macs / 1e6 / loop_ms
    print(
        f"one-thread float32 matrix multiply (2048^3): {gemm:.1f} GFLOP/s; 4x the loop's rate would be "
        f"{need:.1f} GFLOP/s = {need / gemm:.2f}x this core's matrix-multiply rate"
    )


def sgemm_gflops(repeats: int, n: int = 2048) -> float:
    """Best float32 ``torch.mm`` rate of two ``n`` x ``n`` matrices on the current thread count (GFLOP/s)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(max(repeats, 3)):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


if __name__ == "__main__":
    main()
