"""The fault matrix: every kind of damage x every pipeline input format (``tests/faults/formats.py``).

Each case makes a small valid file, damages it, calls the library loader a stage calls first, and
asserts one clear error: an ``EthoflowError`` (never a library's own exception) whose message names the
file and, for the format-specific kinds, what is wrong. Generic kinds (truncated, empty, wrong type,
encoding, symlink) apply to every format, so a format added to ``FORMATS`` is tested for all of them.
The kinds that are not about one input file (disk full, kill -9) are tested where they happen:
``tests/core/test_output_sets.py``, ``tests/reliability`` (disk full) and ``tests/faults/test_resume.py``
(kill -9); ``tests/faults/test_walks.py`` has the folder walks (symlink loop, unreadable file).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ethoflow.core.errors import EthoflowError
from tests.faults.formats import FORMATS, M014, InputFormat


def _truncate(path: Path, fmt: InputFormat) -> None:
    data = path.read_bytes()
    if not fmt.text:
        path.write_bytes(data[: len(data) // 2])
        return
    # cut mid-row, just after a separator, so that the last row lacks cells (a copy that stopped)
    mid = len(data) // 2
    cut = min((data.find(sep, mid) for sep in (b"\t", b",", b": ") if data.find(sep, mid) > 0), default=mid)
    path.write_bytes(data[: cut + 1])


def _empty(path: Path, fmt: InputFormat) -> None:
    path.write_bytes(b"")


def _wrong_type(path: Path, fmt: InputFormat) -> None:
    """A file of another kind under this name: text where binary is expected, binary where text is."""
    if fmt.text:
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    else:
        path.write_bytes(M014.read_bytes()[:3000] if M014.exists() else b"6407\t30 Jun 17\t14:08:00\n" * 100)


def _encoding(path: Path, fmt: InputFormat) -> None:
    """The same text saved as UTF-16 (what a spreadsheet's "Unicode text" export writes)."""
    path.write_bytes(path.read_text().encode("utf-16"))


def _symlink(path: Path, fmt: InputFormat) -> None:
    """The input is a symlink whose target is gone (a moved data disk)."""
    path.unlink()
    os.symlink(path.parent / "moved_away" / path.name, path)


GENERIC = {
    "truncated": _truncate,
    "empty": _empty,
    "wrong_type": _wrong_type,
    "encoding": _encoding,
    "symlink": _symlink,
}


def _cases():
    for fmt in FORMATS:
        for kind in GENERIC:
            if kind == "encoding" and not fmt.text:
                continue
            yield pytest.param(fmt, kind, id=f"{fmt.pipeline}-{fmt.name}-{kind}")
        for kind in fmt.specific:
            yield pytest.param(fmt, kind, id=f"{fmt.pipeline}-{fmt.name}-{kind}")


@pytest.fixture
def need_shared(request):
    def check(fmt: InputFormat):
        if fmt.needs_shared:
            request.getfixturevalue("shared_data")

    return check


@pytest.mark.parametrize("fmt", [pytest.param(f, id=f"{f.pipeline}-{f.name}") for f in FORMATS])
def test_valid_file_loads(fmt, tmp_path, need_shared):
    """The control: the undamaged file of each format loads (so each damage is what the error is about)."""
    need_shared(fmt)
    path = fmt.make(tmp_path)
    fmt.load(path)


@pytest.mark.parametrize(("fmt", "kind"), list(_cases()))
def test_damaged_input_is_one_error_naming_the_file(fmt, kind, tmp_path, need_shared):
    need_shared(fmt)
    path = fmt.make(tmp_path)
    expected = None
    if kind in GENERIC:
        GENERIC[kind](path, fmt)
    else:
        expected = fmt.specific[kind](path)
    with pytest.raises(EthoflowError) as exc:
        fmt.load(path)
    msg = str(exc.value)
    assert path.name in msg, msg
    if expected:
        assert expected in msg, msg
    assert "\n" not in msg.strip() or fmt.name in ("raven_table", "audacity_labels"), msg


def test_slp_bodyparts_are_sleap_ios(shared_data):
    """The bodyparts read from a ``.slp`` file's metadata (no sleap-io) are sleap-io's, in its order, which
    is the order keypoint-moseq loads the coordinates in."""
    import sleap_io

    from ethoflow.core.pose_files import check_keypoint_file
    from tests.faults.formats import SLP

    nodes = [str(n) for n in sleap_io.load_slp(str(SLP)).skeletons[0].node_names]
    assert check_keypoint_file(SLP, "sleap") == nodes and len(nodes) == 24
