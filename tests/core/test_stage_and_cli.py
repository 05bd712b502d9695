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
    res = run_script(
        tmp_path,
        """
        from ethoflow.core.errors import InputError
        from ethoflow.core.stage import run_stage

        def main():
            raise InputError("tapes/t1.wav: annotation at 12.0-13.5 s is past the end of the file (10.0 s)")

        run_stage(main)
    """,
    )
    assert res.returncode == 1
    assert "ERROR" in res.stderr and "tapes/t1.wav: annotation at 12.0-13.5 s" in res.stderr
    assert "Traceback" not in res.stderr


def test_stage_bad_params_fail_at_start(tmp_path):
    (tmp_path / "params.yaml").write_text("compute:\n  executer: slurm\n")
    res = run_script(
        tmp_path,
        """
        from ethoflow.core.stage import run_stage
        from ethoflow.dispatch import load_compute

        run_stage(lambda: load_compute("params.yaml"))
    """,
    )
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
    for key in (
        "python",
        "torch",
        "jax",
        "dvc",
        "submitit",
        "slurm",
        "torch GPU",
        "jax devices",
        "params.yaml",
        "executor",
    ):
        assert key in rows
    assert rows["executor"].startswith("debug")
    assert rows["torch GPU"].startswith(("no", "yes"))
    assert main(["doctor"]) == 0
    assert "submitit" in capsys.readouterr().out


def test_check_params_fast_exit_codes(tmp_path):
    """`ethoflow check-params` (run by `make repro` before `dvc repro`): 0 for the repository's
    params.yaml, 2 naming the file and the dotted key for a misspelled key; torch and jax stay
    unimported so the check costs about a second."""
    from tests.conftest import REPO

    code = textwrap.dedent("""
        import sys
        from ethoflow.cli import main
        rc = main(sys.argv[1:])
        heavy = sorted(m for m in ("torch", "jax") if m in sys.modules)
        print("HEAVY", heavy, file=sys.stderr)
        sys.exit(rc)
    """)

    def check(*args, cwd=tmp_path):
        return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120)

    ok = check("check-params", str(REPO / "params.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout and "HEAVY []" in ok.stderr

    bad = tmp_path / "params.yaml"
    bad.write_text((REPO / "params.yaml").read_text().replace("    dpi: 80", "    dpii: 80"))
    for args in (("check-params", str(bad)), ("check-params",), ("doctor", "--params")):
        res = check(*args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "params.yaml: hbehave.heatmaps.dpii: unknown key" in res.stderr
        assert "HEAVY []" in res.stderr


def test_doctor_exits_1_naming_what_is_wrong(capsys, monkeypatch, tmp_path):
    """An invalid params.yaml (and anything else the doctor finds wrong) is listed and exits 1."""
    from ethoflow.cli import doctor_problems

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ETHOFLOW_EXECUTOR", raising=False)
    (tmp_path / "params.yaml").write_text("compute:\n  executer: local\n")
    assert main(["doctor"]) == 1
    captured = capsys.readouterr()
    assert "INVALID" in captured.out
    assert "problem(s)" in captured.err and "compute.executer: unknown key" in captured.err
    rows = [("torch", "not installed"), ("slurm", "not reachable"), ("executor", "slurm (compute.executor=slurm)")]
    assert doctor_problems(rows) == ["torch: not installed", "executor: slurm (compute.executor=slurm)"]
    assert doctor_problems([("slurm", "not reachable"), ("torch GPU", "no (CPU)"), ("executor", "local")]) == []


def test_version_flag(capsys):
    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("ethoflow 0.")


def test_piping_into_head_ends_quietly(tmp_path):
    """`ethoflow ... | head`: the reader closes the pipe first; no traceback, no ERROR line, exit 141."""
    import os

    from tests.conftest import REPO

    for args in (["check-params", str(REPO / "params.yaml")], ["metrics"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader (head) has gone away before the first line
        try:
            res = subprocess.run(
                [sys.executable, "-m", "ethoflow.cli", *args],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                cwd=REPO,
            )
        finally:
            os.close(write_end)
        assert res.returncode == 141, (args, res.stderr)
        assert res.stderr == "", (args, res.stderr)
