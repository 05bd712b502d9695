"""Portable compute mode (``compute.numerics``): one setting, applied before the libraries load, that
makes a short training of every pipeline's model give the same bytes under different CPU dispatch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ethoflow.core import numerics
from ethoflow.core.errors import ParamsError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import numerics as numerics_bench  # noqa: E402

#: a CPU's worth of different dispatch: ATen AVX2 kernels, oneDNN AVX2, XLA AVX, numpy without AVX-512
#: loops, OpenBLAS's Haswell kernels; run on one CPU (a machine with fewer cores)
OTHER_CPU = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "XLA_FLAGS": "--xla_cpu_max_isa=AVX",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
}


def test_portable_environment_pins_every_dispatch_knob_and_keeps_the_users_xla_flags():
    env = numerics.environment("portable", 3, base={"XLA_FLAGS": "--xla_dump_to=/x", "ATEN_CPU_CAPABILITY": "avx512"})
    assert env["ATEN_CPU_CAPABILITY"] == "default" and env["MKL_CBWR"] == "COMPATIBLE"
    assert env["OPENBLAS_CORETYPE"] == "Prescott" and env["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    assert env["NPY_DISABLE_CPU_FEATURES"] == numerics.NPY_ABOVE_BASELINE
    assert env["XLA_FLAGS"].split() == ["--xla_dump_to=/x", *numerics.XLA_PORTABLE]
    assert {env[v] for v in numerics.THREAD_VARS} == {"3"}
    assert numerics.applied("portable", 3, env) and not numerics.applied("portable", 2, env)
    assert not numerics.applied("fast", 3, env)
    # fast changes nothing but the marker
    assert numerics.environment("fast", 3, base={"A": "1"}) == {"A": "1", numerics.ENV_APPLIED: "fast"}
    with pytest.raises(ValueError, match="quick"):
        numerics.environment("quick", 2, base={})


def test_the_mode_comes_from_the_params_file_named_on_the_stage_command_line(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("compute: {numerics: fast, threads: 4}\n")
    assert numerics.params_path_from_argv(["x", "--params", str(p)], "params.yaml") == str(p)
    assert numerics.params_path_from_argv([f"--params={p}"], "params.yaml") == str(p)
    assert numerics.mode_from_params(p) == ("fast", 4)
    assert numerics.mode_from_params(tmp_path / "absent.yaml") == ("portable", 2)
    p.write_text("compute: {numerics: quick}\n")
    with pytest.raises(ParamsError, match="numerics"):
        numerics.mode_from_params(p)


def test_a_slurm_job_exports_the_mode_in_its_batch_script():
    lines = numerics.slurm_setup("portable", 2)
    assert "export ATEN_CPU_CAPABILITY=default" in lines and "export OMP_NUM_THREADS=2" in lines
    assert f"export {numerics.ENV_APPLIED}=portable:2" in lines
    assert numerics.slurm_setup("fast", 2) == [f"export {numerics.ENV_APPLIED}=fast"]


@pytest.mark.parametrize("mode", ["portable", "fast"])
def test_a_stage_runs_in_its_params_mode_whatever_environment_started_it(tmp_path, mode):
    """``run_stage`` replaces the process by the same command in the mode's environment (the variables
    are read by torch and numpy at load), then switches oneDNN off in portable mode."""
    script = tmp_path / "stage.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            from ethoflow.core.stage import run_stage, stage_parser

            def main():
                import torch

                stage_parser().parse_args()
                print(json.dumps({"cap": torch.backends.cpu.get_cpu_capability(), "mkldnn": torch.backends.mkldnn.enabled,
                                  "threads": torch.get_num_threads(), "cbwr": os.environ.get("MKL_CBWR")}))

            run_stage(main)
            """
        )
    )
    (tmp_path / "p.yaml").write_text(f"compute: {{numerics: {mode}, threads: 1}}\n")
    env = {k: v for k, v in os.environ.items() if k != numerics.ENV_APPLIED}
    env["ATEN_CPU_CAPABILITY"] = "avx2"
    res = subprocess.run(
        [sys.executable, str(script), "--params", str(tmp_path / "p.yaml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    if mode == "portable":
        assert got == {"cap": "DEFAULT", "mkldnn": False, "threads": 1, "cbwr": "COMPATIBLE"}
    else:  # fast: the caller's environment as it was
        assert got["cap"] == "AVX2" and got["mkldnn"] is True and got["cbwr"] == os.environ.get("MKL_CBWR")


def _probes(runs):
    base = {k: v for k, v in os.environ.items() if k not in numerics.portable_variables(1)}
    cpus = [min(os.sched_getaffinity(0))]

    def one(run):
        mode, other, pipelines = run
        env = {**base, **(OTHER_CPU if other else {})}
        return numerics_bench.run_probe(mode, "tiny", env, 2, cpus if other else None, pipelines)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, runs))


def test_portable_training_of_every_pipelines_model_gives_the_same_bytes_under_other_cpu_dispatch():
    """acoustic ResNet and framewise CNN, hBehaveMAE, VAE (torch) and moseq's AR-HMM Gibbs sweeps (jax),
    each trained a few steps in a fresh process: identical sha256 in portable mode under this machine's
    dispatch and under :data:`OTHER_CPU` on one CPU. In fast mode the same two settings change every
    model's bytes (measured with ``benchmarks/numerics.py probe``: all five differ); the two acoustic
    models are checked here (the cheapest), so the comparison has teeth. The moseq sweeps here sample
    state sequences only (the AR-parameter step's jit compile would double the test's time; the
    benchmark's size runs both)."""
    every, torch_only = numerics_bench.PIPELINES, ("acoustic_resnet", "acoustic_framewise")
    portable, portable_other, fast, fast_other = _probes(
        [("portable", False, every), ("portable", True, every), ("fast", False, torch_only), ("fast", True, torch_only)]
    )
    for name in numerics_bench.PIPELINES:
        assert portable[name] == portable_other[name], name
    assert portable["numerics"]["torch_cpu_capability"] == "DEFAULT"
    assert portable_other["numerics"]["ATEN_CPU_CAPABILITY"] == "default"
    changed = [name for name in torch_only if fast[name] != fast_other[name]]
    assert fast_other["numerics"]["torch_cpu_capability"] == "AVX2"
    # fast mode follows the dispatch (the convolutions of both acoustic models at least, on any CPU with AVX2)
    assert {"acoustic_resnet", "acoustic_framewise"} <= set(changed), changed


@pytest.mark.qemu
def test_portable_training_gives_the_same_bytes_on_an_emulated_cpu_of_another_vendor():
    """The same short trainings (acoustic framewise CNN with batches of 16, hBehaveMAE, VAE) in portable mode,
    natively and under ``qemu-x86_64 -cpu EPYC-Rome`` (an AMD CPU: its cpuid, so MKL's non-Intel code path,
    AVX2 without AVX-512, other cache sizes; approximate instructions computed unlike Intel's hardware):
    identical sha256. The control, torch's own ``sqrt`` (MKL's vector maths, which trained weights went
    through before ethoflow's optimiser became torch's fused Adam), differs there: the emulation has teeth.
    ``benchmarks/numerics.py cross-cpu`` runs every pipeline, moseq included, and a CPU without AVX."""
    pipelines = ("acoustic_framewise", "hbehave", "vae", "sqrt_reference")
    with ThreadPoolExecutor(2) as pool:
        native, amd = pool.map(
            lambda cpu: numerics_bench.run_emulated(cpu, "portable", "cross", pipelines), (None, "EPYC-Rome")
        )
    assert native["sqrt_reference"] != amd["sqrt_reference"]
    for name in pipelines[:-1]:
        assert native[name] == amd[name], name


def test_a_worker_process_applies_the_mode_it_inherited(monkeypatch):
    """An ``mp.spawn`` DDP worker gets the stage's environment but not its runtime settings: it applies
    them from the inherited marker (oneDNN and NNPACK off in portable mode), with its own thread count."""
    import torch

    monkeypatch.setenv(numerics.ENV_APPLIED, numerics.marker("portable", 2))
    before = (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled(), torch.get_num_threads())
    try:
        torch.backends.mkldnn.enabled = True
        torch.backends.nnpack.set_flags(True)
        numerics.apply_inherited(1)
        assert (torch.backends.mkldnn.enabled, torch._C._get_nnpack_enabled(), torch.get_num_threads()) == (
            False,
            False,
            1,
        )
        monkeypatch.setenv(numerics.ENV_APPLIED, numerics.marker("fast", 2))
        torch.backends.nnpack.set_flags(True)
        numerics.apply_inherited(1)  # fast: nothing changed
        assert torch._C._get_nnpack_enabled() is True
    finally:
        torch.backends.mkldnn.enabled = before[0]
        torch.backends.nnpack.set_flags(before[1])
        torch.set_num_threads(before[2])
