"""Stage runner, logging format, progress bars and the `ethoflow` command."""

import logging
import subprocess
import sys
import textwrap

from ethoflow.cli import doctor_report, main
from ethoflow.core.logging import get_logger, setup_logging
from ethoflow.core.progress import progress, progress_enabled
from ethoflow.core.stage import stage_parser


def run_script(tmp_path, body):
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_stage_error_is_one_clear_line_and_exit_1(tmp_path):
    res = run_script(tmp_path, """
        from ethoflow.core.errors import InputError
        from ethoflow.core.stage import run_stage

        def main():
            raise InputError("tapes/t1.wav: annotation at 12.0-13.5 s is past the end of the file (10.0 s)")

        run_stage(main)
    """)
    assert res.returncode == 1
    assert "ERROR" in res.stderr and "tapes/t1.wav: annotation at 12.0-13.5 s" in res.stderr
    assert "Traceback" not in res.stderr


def test_stage_bad_params_fail_at_start(tmp_path):
    (tmp_path / "params.yaml").write_text("compute:\n  executer: slurm\n")
    res = run_script(tmp_path, """
        from ethoflow.core.stage import run_stage
        from ethoflow.dispatch import load_compute

        run_stage(lambda: load_compute("params.yaml"))
    """)
    assert res.returncode == 1
    assert "params.yaml: compute.executer: unknown key" in res.stderr


def test_stage_parser_has_params_option():
    args = stage_parser("demo stage\nmore text").parse_args(["--params", "p.yaml"])
    assert args.params == "p.yaml"


def test_logging_has_one_format(capsys):
    setup_logging("INFO")
    get_logger("ethoflow.test").info("hello %d", 3)
    err = capsys.readouterr().err
    assert "INFO" in err and "ethoflow.test: hello 3" in err
    setup_logging("INFO")  # idempotent: still one handler
    assert len([h for h in logging.getLogger("ethoflow").handlers if getattr(h, "_ethoflow", False)]) == 1


def test_progress_quiet_without_tty(monkeypatch):
    monkeypatch.delenv("ETHOFLOW_PROGRESS", raising=False)
    assert progress_enabled() is False  # pytest captures stderr: not a TTY
    assert progress(range(3)).disable
    monkeypatch.setenv("ETHOFLOW_PROGRESS", "1")
    assert not progress(range(3)).disable


def test_doctor_lists_versions_gpu_slurm_executor(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("compute:\n  executor: local\n")
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "debug")
    rows = dict(doctor_report())
    for key in ("python", "torch", "jax", "dvc", "submitit", "slurm", "torch GPU", "jax devices", "params.yaml", "executor"):
        assert key in rows
    assert rows["executor"].startswith("debug")
    assert rows["torch GPU"].startswith(("no", "yes"))
    assert main(["doctor"]) == 0
    assert "submitit" in capsys.readouterr().out
