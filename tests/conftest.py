"""Shared test fixtures: paths to the real data in ../shared/data, and quiet, seeded runs."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ETHOFLOW_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()

os.environ.setdefault("ETHOFLOW_PROGRESS", "0")


pytest_plugins = ["tests.fixtures.hbehave", "tests.fixtures.dvc"]

_SLURM_REASON = "Slurm is not running (start it with: sudo scripts/local-slurm.sh start)"


_slurm_seen = False


def slurm_answers() -> bool:
    """Whether Slurm answers: :func:`ethoflow.dispatch.slurm_available` (which asks ``sinfo`` a few
    times before giving up), remembered for the session once it said yes."""
    global _slurm_seen
    if not _slurm_seen:
        from ethoflow.dispatch import slurm_available

        _slurm_seen = slurm_available(attempts=5, wait_s=2.0)
    return _slurm_seen


def pytest_configure(config):
    """The suite runs in the compute mode of the repository's params.yaml (``compute.numerics``,
    portable), as the stages do. Its variables must be set before numpy (already loaded by pytest's
    plugins), torch or jax load, so a run started outside that mode is replaced by the same command in
    it (:func:`ethoflow.core.numerics.ensure`; pytest's output capture is stopped first, so the new
    process writes to the terminal). xdist workers inherit the mode."""
    from ethoflow.core import numerics

    mode = numerics.mode_from_params(REPO / "params.yaml")
    if not numerics.applied(*mode):
        capture = config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.stop_global_capturing()
        numerics.ensure(*mode)
    numerics.apply_runtime(*mode)
    config.addinivalue_line("markers", "sshd: starts a throw-away OpenSSH server on 127.0.0.1 (openssh-server)")


def xdist_scope(nodeid: str) -> str:
    """The pytest-xdist work unit of a test: ``slurm`` for every test of a real-Slurm module (a file
    whose name contains ``slurm``: they run one after another on one worker, since a test that checks
    two jobs overlap needs the node's CPUs free), else its module (its module fixtures built once)."""
    module = nodeid.split("::", 1)[0]
    return "slurm" if "slurm" in Path(module).name else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``-n N`` (``make test`` runs ``-n 2``): whole :func:`xdist_scope` units per worker, in collection
    order (:func:`pytest_collection_modifyitems` puts the longest first)."""
    from xdist.scheduler import LoadScopeScheduling

    class ScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    config.option.loadscopereorder = False
    return ScopeScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slurm`` must live in a module named ``*slurm*`` (see :func:`xdist_scope`). On the
    xdist workers, the Slurm unit comes first, then the DVC integration modules, then the rest."""
    misplaced = [i.nodeid for i in items if i.get_closest_marker("slurm") and xdist_scope(i.nodeid) != "slurm"]
    if misplaced:
        raise pytest.UsageError(f"tests marked slurm belong in a test module named *slurm*: {misplaced}")

    def rank(item) -> int:
        if xdist_scope(item.nodeid) == "slurm":
            return 0
        return 1 if item.nodeid.startswith("tests/integration/") else 2

    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=rank)  # stable: a module's tests stay in their order


def pytest_runtest_setup(item):
    """Tests marked ``slurm`` skip with the reason when no Slurm answers, or fail under
    ``ETHOFLOW_REQUIRE_SLURM=1`` (set by .ci/run), where the real-cluster tests must run.
    Likewise tests marked ``sshd`` when no OpenSSH server is installed (``ETHOFLOW_REQUIRE_SSHD=1``), and
    tests marked ``chromium`` when no Chromium is on PATH (``ETHOFLOW_REQUIRE_CHROMIUM=1``), and tests
    marked ``qemu`` when no ``qemu-x86_64`` is (``ETHOFLOW_REQUIRE_QEMU=1``)."""
    if item.get_closest_marker("sshd") is not None:
        from tests.integration.sshd import SSHD_REASON, sshd_path

        if sshd_path() is None:
            if os.environ.get("ETHOFLOW_REQUIRE_SSHD") == "1":
                pytest.fail(f"ETHOFLOW_REQUIRE_SSHD=1 but {SSHD_REASON}")
            pytest.skip(SSHD_REASON)
    if item.get_closest_marker("chromium") is not None:
        from ethoflow.report.browser import chromium_path

        if chromium_path() is None:
            reason = "no Chromium on PATH (apt-get install chromium): the headless-browser rendering checks need it"
            if os.environ.get("ETHOFLOW_REQUIRE_CHROMIUM") == "1":
                pytest.fail(f"ETHOFLOW_REQUIRE_CHROMIUM=1 but {reason}")
            pytest.skip(reason)
    if item.get_closest_marker("qemu") is not None and shutil.which("qemu-x86_64") is None:
        reason = "no qemu-x86_64 on PATH (apt-get install qemu-user): the emulated-CPU checks need it"
        if os.environ.get("ETHOFLOW_REQUIRE_QEMU") == "1":
            pytest.fail(f"ETHOFLOW_REQUIRE_QEMU=1 but {reason}")
        pytest.skip(reason)
    if item.get_closest_marker("slurm") is None:
        return
    if slurm_answers():
        return
    if os.environ.get("ETHOFLOW_REQUIRE_SLURM") == "1":
        pytest.fail(f"ETHOFLOW_REQUIRE_SLURM=1 but {_SLURM_REASON}")
    pytest.skip(_SLURM_REASON)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (real datasets; never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run the test inside an empty temporary project folder (``ETHOFLOW_ROOT`` points at it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ETHOFLOW_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def ethoflow_log(caplog):
    """``caplog`` holding the ``ethoflow`` logger's records from INFO up, also when ``setup_logging``
    (called by another test on this worker) has stopped their propagation to the root logger."""
    log = logging.getLogger("ethoflow")
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="ethoflow"):
            yield caplog
    finally:
        log.removeHandler(caplog.handler)
