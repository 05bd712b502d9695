"""A throw-away OpenSSH server on 127.0.0.1 for tests (the SSH case of ``dvc push``/``dvc pull``).

:func:`running_sshd` generates a temporary host key and a temporary client key, writes an
``sshd_config`` that listens only on 127.0.0.1 (a free port) and accepts only that client key for
the current user, starts ``sshd -D`` in the background and stops it on exit, also on failure.
Tests that use it carry the ``sshd`` marker (tests/conftest.py skips them when :func:`sshd_path`
finds no server, or fails them under ``ETHOFLOW_REQUIRE_SSHD=1``, which .ci/run sets).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD_REASON = "no OpenSSH server (sshd) installed (Debian: apt-get install openssh-server)"
HOST = "127.0.0.1"


def sshd_path() -> str | None:
    """Absolute path of ``sshd`` (it must be started by absolute path), or None when ``sshd`` or
    ``ssh-keygen`` is missing."""
    found = shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None
    )
    if found is None or shutil.which("ssh-keygen") is None:
        return None
    return str(Path(found).resolve())


@dataclass(frozen=True)
class SSHServer:
    host: str
    port: int
    user: str
    keyfile: Path  # private key the server accepts

    def url(self, path: Path | str) -> str:
        """``ssh://user@127.0.0.1:port/abs/path``, a DVC remote URL."""
        return f"ssh://{self.user}@{self.host}:{self.port}{Path(path).resolve()}"


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ethoflow-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _banner(port: int) -> bool:
    """True when an SSH server answers on ``port`` with its identification string."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # sshd and its children (own process group)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def running_sshd(workdir: Path, start_timeout: float = 20) -> Iterator[SSHServer]:
    """Run ``sshd`` (key auth only, 127.0.0.1 only) for the duration of the ``with`` block."""
    sshd = sshd_path()
    if sshd is None:
        raise RuntimeError(SSHD_REASON)
    workdir.mkdir(parents=True, exist_ok=True)
    host_key, client_key = workdir / "ssh_host_ed25519_key", workdir / "client_ed25519"
    _keygen(host_key)
    _keygen(client_key)
    authorized = workdir / "authorized_keys"
    authorized.write_text((workdir / "client_ed25519.pub").read_text())
    authorized.chmod(0o600)
    user = getpass.getuser()
    if os.geteuid() == 0:
        # sshd run as root needs its privilege-separation directory (normally made by systemd).
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)

    log = workdir / "sshd.log"
    for _attempt in range(5):
        port = _free_port()
        config = workdir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {HOST}",
                    f"Port {port}",
                    f"HostKey {host_key}",
                    f"PidFile {workdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {authorized}",
                    f"AllowUsers {user}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",  # the keys live in a temporary directory
                    "Subsystem sftp internal-sftp",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + start_timeout
        while proc.poll() is None and time.monotonic() < deadline and not _banner(port):
            time.sleep(0.1)
        if proc.poll() is None and _banner(port):
            break
        _stop(proc)  # port taken in between, or a slow start: try another port
    else:
        raise RuntimeError(f"sshd did not start; its log ({log}):\n{log.read_text()}")

    try:
        yield SSHServer(host=HOST, port=port, user=user, keyfile=client_key)
    finally:
        _stop(proc)
