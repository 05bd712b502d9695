"""Corpus ingestion with crowsetta: demo tables, label mapping, quality, merging, bad input per file."""

import shutil

import numpy as np
import pytest

from ethoflow.acoustic.data.corpus import build_corpus, merge_events
from ethoflow.acoustic.params import CorpusParams, DemoParams
from ethoflow.core import InputError
from ethoflow.demo.acoustic import generate
from tests.fixtures.tiny import ACOUSTIC_DEMO as TINY_DEMO


def _src(folder, **kw):
    return dict(
        name="demo",
        format="raven",
        annotations=f"{folder}/*.selections.txt",
        quality_column="Quality",
        tape_regex="^(?P<tape>[^_]+)",
        **kw,
    )


def test_demo_is_deterministic(tmp_path, demo_dir):
    generate(tmp_path, DemoParams(**TINY_DEMO))
    files = sorted(p.name for p in demo_dir.iterdir())
    assert len(files) == 12
    for f in files:
        assert (tmp_path / f).read_bytes() == (demo_dir / f).read_bytes(), f


def test_corpus_reads_demo(demo_dir):
    index, report = build_corpus(CorpusParams(sources=[_src(demo_dir)]), root="/")
    assert report["n_problems"] == 0 and report["n_tapes"] == 3 and report["n_recordings"] == 6
    ev = index["events"]
    assert len(ev) == report["n_annotations_read"] > 0
    assert all(e["end_s"] > e["start_s"] and e["quality"] in (1, 2, 3) for e in ev)
    assert {e["tape"] for e in ev} == {"T01", "T02", "T03"}
    assert len({e["uid"] for e in ev}) == len(ev)


def test_label_map_min_quality_and_merge(demo_dir):
    cfg = CorpusParams(sources=[_src(demo_dir)], label_map={"call": "song"}, min_quality=2)
    index, report = build_corpus(cfg, root="/")
    assert index["classes"] == ["song"]
    roles = {e["role"] for e in index["events"] if e["quality"] < 2}
    assert roles == {"ignored"}
    assert report["n_by_role"]["target"] == sum(e["quality"] >= 2 for e in index["events"])
    merged, _ = build_corpus(CorpusParams(sources=[_src(demo_dir)], merge_gap_s=100.0), root="/")
    assert len([e for e in merged["events"] if e["role"] == "target"]) == 6  # one bout per recording
    evs = [
        dict(
            recording="r",
            role="target",
            label="a",
            start_s=s,
            end_s=e,
            low_hz=None,
            high_hz=None,
            quality=None,
            n_merged=1,
        )
        for s, e in [(0, 1), (1.2, 2), (3, 4)]
    ]
    out = merge_events(evs, 0.3)
    assert [(e["start_s"], e["end_s"], e["n_merged"]) for e in out] == [(0, 2, 2), (3, 4, 1)]


def test_bad_inputs_are_reported_per_file_or_fail(tmp_path, demo_dir):
    d = tmp_path / "bad"
    shutil.copytree(demo_dir, d)
    # 1) annotation for a missing audio file
    (d / "T01_r1.wav").unlink()
    # 2) unreadable audio
    (d / "T01_r2.wav").write_bytes(b"not a wav file")
    # 3) zero duration and past-the-end rows
    t = d / "T02_r1.Table.1.selections.txt"
    lines = t.read_text().splitlines()
    cols = lines[1].split("\t")
    zero = cols.copy()
    zero[0], zero[4] = "98", zero[3]
    late = cols.copy()
    late[0], late[3], late[4] = "99", "7.9", "9.5"
    t.write_text("\n".join(lines + ["\t".join(zero), "\t".join(late)]) + "\n")
    index, report = build_corpus(CorpusParams(sources=[_src(d)]), root="/")
    msgs = [(p["file"].split("/")[-1], p["problem"]) for p in report["problems"]]
    assert any(f == "T01_r1.wav" and "does not exist" in m for f, m in msgs)
    assert any(f == "T01_r2.wav" and "not a readable audio file" in m for f, m in msgs)
    assert any(f == "T02_r1.wav" and "zero or negative duration" in m and "row" in m for f, m in msgs)
    assert any(f == "T02_r1.wav" and "outside the recording" in m for f, m in msgs)
    assert report["n_problems"] == 4
    assert {e["recording"] for e in index["events"]} == {"T02_r1", "T02_r2", "T03_r1", "T03_r2"}
    with pytest.raises(InputError, match="4 bad inputs"):
        build_corpus(CorpusParams(sources=[_src(d)], on_error="fail"), root="/")


def test_raven_tables_from_a_european_windows_export_read_and_a_bad_row_is_named(tmp_path, demo_dir):
    d = tmp_path / "eu"
    shutil.copytree(demo_dir, d)
    t = d / "T01_r1.Table.1.selections.txt"
    lines = t.read_text().splitlines()
    header, rows = lines[0].split("\t"), [r.split("\t") for r in lines[1:]]
    begin, end, label = header.index("Begin Time (s)"), header.index("End Time (s)"), header.index("Annotation")
    want = [(float(r[begin]), float(r[end])) for r in rows]
    for r in rows:  # decimal commas and a latin-1 label, as Raven writes them on a German Windows
        r[begin], r[end] = r[begin].replace(".", ","), r[end].replace(".", ",")
        r[label] = "café"
    t.write_bytes(("\n".join("\t".join(r) for r in [header, *rows]) + "\n").encode("latin-1"))
    cfg = CorpusParams(sources=[_src(d)], label_map={"café": "call"})
    index, report = build_corpus(cfg, root="/")
    got = [(e["start_s"], e["end_s"]) for e in index["events"] if e["recording"] == "T01_r1"]
    assert report["n_problems"] == 0 and got == want
    assert {e["raw_label"] for e in index["events"] if e["recording"] == "T01_r1"} == {"café"}
    rows[1][end] = "1,2,3"  # one bad cell: the problem names the file, row and column, not a SchemaError
    t.write_bytes(("\n".join("\t".join(r) for r in [header, *rows]) + "\n").encode("latin-1"))
    index, report = build_corpus(cfg, root="/")
    (prob,) = [p["problem"] for p in report["problems"]]
    assert "row 2 (line 3), column 'End Time (s)': '1,2,3' is not a number" in prob and "bad_rows" in prob
    assert not any(e["recording"] == "T01_r1" for e in index["events"])
    index, report = build_corpus(cfg.model_copy(update={"bad_rows": "skip"}), root="/")  # only that row
    (prob,) = [p["problem"] for p in report["problems"]]
    assert prob.startswith("row 2 (line 3), column 'End Time (s)'") and prob.endswith("row skipped")
    assert len([e for e in index["events"] if e["recording"] == "T01_r1"]) == len(rows) - 1


def test_unreadable_annotation_file(tmp_path, demo_dir):
    d = tmp_path / "c"
    shutil.copytree(demo_dir, d)
    (d / "T03_r1.Table.1.selections.txt").write_text("garbage\n1\t2\n")
    _, report = build_corpus(CorpusParams(sources=[_src(d)]), root="/")
    assert any("cannot read as 'raven'" in p["problem"] for p in report["problems"])
    with pytest.raises(InputError):
        build_corpus(CorpusParams(sources=[]))


def test_audacity_labels_via_crowsetta(tmp_path, demo_dir):
    shutil.copy(demo_dir / "T01_r1.wav", tmp_path / "T01_r1.wav")
    (tmp_path / "T01_r1.txt").write_text("0.5\t1.0\tcall\n2.0\t2.5\tcall\n")
    cfg = CorpusParams(sources=[dict(name="aud", format="aud-seq", annotations=f"{tmp_path}/*.txt")])
    index, report = build_corpus(cfg, root="/")
    assert report["n_problems"] == 0
    np.testing.assert_allclose([(e["start_s"], e["end_s"]) for e in index["events"]], [(0.5, 1.0), (2.0, 2.5)])
