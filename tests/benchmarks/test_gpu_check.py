"""``benchmarks/gpu_check.py``: skips cleanly without a GPU, and its checks (device use, inference parity,
throughput) can fail. The whole run (two tiny project copies) is exercised by hand with ``--device cpu``;
here its parts are tested on small files."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_check  # noqa: E402


def test_without_a_visible_gpu_it_skips_with_the_reason_and_exit_0():
    res = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_check.py")],
        capture_output=True,
        text=True,
        env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("SKIP: no CUDA device visible (torch.cuda.is_available() is False")
    assert "CUDA_VISIBLE_DEVICES=''" in res.stdout


def test_a_stage_that_did_not_allocate_on_the_gpu_is_caught():
    torch_stage = gpu_check.StageRun("vae_train", 1.0, [{"torch_cuda_peak_bytes": 0}])
    assert not torch_stage.used_device()
    assert gpu_check.StageRun("vae_train", 1.0, [{}, {"torch_cuda_peak_bytes": 1 << 20}]).used_device()
    assert not gpu_check.StageRun("moseq_full", 1.0, [{"jax_platform": "cpu"}]).used_device()
    assert gpu_check.StageRun("moseq_full", 1.0, [{"jax_platform": "gpu"}]).used_device()


def _outs(root: Path, z: np.ndarray, extra_col: bool = False) -> Path:
    out = root / "latents"
    out.mkdir(parents=True)
    df = pd.DataFrame({"snip_id": [f"s{i}" for i in range(len(z))], "z_mu_00": z})
    if extra_col:
        df["z_mu_01"] = z
    df.to_parquet(out / "morph_latents_e1.parquet")
    np.savez(out / "emb.npz", emb=z.reshape(-1, 1))
    return out


def test_inference_parity_is_the_largest_numeric_difference_and_structure_differences_are_infinite(tmp_path):
    z = np.linspace(-1, 1, 5)
    ref = _outs(tmp_path / "a", z)
    assert gpu_check.max_abs_diff([ref], [_outs(tmp_path / "b", z)]) == 0.0
    shifted = z.copy()
    shifted[3] += 2e-3
    assert gpu_check.max_abs_diff([ref], [_outs(tmp_path / "c", shifted)]) == pytest.approx(2e-3)
    assert gpu_check.max_abs_diff([ref], [_outs(tmp_path / "d", z, extra_col=True)]) == math.inf
    with_nan = z.copy()
    with_nan[0] = np.nan
    assert gpu_check.max_abs_diff([ref], [_outs(tmp_path / "e", with_nan)]) == math.inf


def test_the_cpu_reference_hides_the_gpu_and_the_device_run_forces_jax_onto_it(tmp_path):
    cpu = gpu_check.stage_env("cpu", tmp_path, tmp_path / "rec")
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and cpu["JAX_PLATFORMS"] == "cpu"
    cuda = gpu_check.stage_env("cuda", tmp_path, tmp_path / "rec")
    assert "CUDA_VISIBLE_DEVICES" not in cuda and cuda["JAX_PLATFORMS"] == "cuda"


def test_the_recording_hook_reports_each_process(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(gpu_check.HOOK)
    rec = tmp_path / "rec"
    subprocess.run(
        [sys.executable, "-c", "import torch; torch.zeros(1)"],
        env={"PYTHONPATH": str(tmp_path), "ETHOFLOW_GPU_CHECK_DIR": str(rec), "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=120,
    )
    (record,) = [p.read_text() for p in rec.glob("*.json")]
    assert '"argv": ["-c"]' in record and "torch_cuda_peak_bytes" not in record  # CUDA never initialised
