"""Resume records of ``acoustic_detect``: per-recording completion records and their fingerprints.

Each finished recording leaves its windows and detections (``state/<recording>.windows.parquet``,
``.detections.parquet``) and then a completion record (``state/<recording>.json``) holding a
fingerprint (:func:`fingerprint`) of everything that decides its result (model file, setting, threshold,
chaining params, RF file, the audio file's content hash); a rerun skips recordings whose record matches
(:func:`recording_done`). Content hashes are cached by file size and mtime outside the out folder
(:func:`content_sha256`), so a rerun does not read the recordings already done.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ethoflow.core import read_json, write_json
from ethoflow.core.io import sha256_file
from ethoflow.core.paths import state_dir

STATE = "state"
STATE_VERSION = 2  # 2: recordings keyed by content hash, not mtime
HASH_CACHE = "hash-cache"  # <project>/.ethoflow/hash-cache/: machine-local, git-ignored, never a DVC out
RACY_NS = 2_000_000_000  # files changed less than 2 s before hashing are not cached (mtime granularity)


def content_sha256(path: str | Path) -> str:
    """SHA-256 of a file's content, read from a machine-local cache when the file's size and mtime (ns)
    are those it had when it was last hashed, so recordings already done are not read again on a rerun.

    The cache is one small JSON per file (``{path, size, mtime_ns, sha256}``) in
    ``<project>/.ethoflow/hash-cache/`` (:func:`ethoflow.core.paths.state_dir`), outside the DVC out:
    the completion records stay keyed by content alone, byte-identical across clones. As make and rsync,
    it trusts size + mtime: a rewrite that keeps both (within the same nanosecond timestamp) is not seen.
    A file changed less than 2 s before it is hashed is not cached (its mtime may still change within
    the clock tick). An unwritable cache is skipped (the file is hashed).
    """
    path = Path(path)
    st = path.stat()
    real = str(path.resolve())
    try:
        entry = state_dir(HASH_CACHE) / f"{hashlib.sha1(real.encode()).hexdigest()}.json"
        cached = read_json(entry) if entry.exists() else {}
    except Exception:  # unreadable or unwritable cache: hash the file
        entry, cached = None, {}
    if cached.get("path") == real and cached.get("size") == st.st_size and cached.get("mtime_ns") == st.st_mtime_ns:
        return str(cached["sha256"])
    digest = sha256_file(path)
    if entry is not None and time.time_ns() - st.st_mtime_ns > RACY_NS and path.stat().st_mtime_ns == st.st_mtime_ns:
        try:
            write_json(entry, {"path": real, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest})
        except OSError:
            pass
    return digest


def fingerprint(common: dict[str, Any], path: Path) -> str:
    """The completion record's key: the set's settings, the recording's path and its content hash (not its
    mtime: a copy or a fresh clone of the same data must give the same records, which are DVC outs). The
    hash comes from :func:`content_sha256`'s size + mtime cache when the file is unchanged since it was hashed."""
    blob = json.dumps({**common, "file": str(path), "sha256": content_sha256(path)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def recording_done(state: Path, rid: str, fp: str) -> bool:
    """Whether recording ``rid`` is done: its completion record in ``state`` holds fingerprint ``fp`` and its
    windows and detections files exist."""
    rec = state / f"{rid}.json"
    if not rec.exists():
        return False
    try:
        ok = read_json(rec).get("fingerprint") == fp
    except Exception:
        return False
    return ok and (state / f"{rid}.windows.parquet").exists() and (state / f"{rid}.detections.parquet").exists()
