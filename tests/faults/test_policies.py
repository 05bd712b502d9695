"""No silent policy: inputs that hold two answers, or a hole, are refused by name or handled by an explicit,
logged choice (issue #24). DAM files are made from the real DAM2 file M014.txt and from the DAM5 format."""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.hbehave.io import read_dam
from tests.hbehave.test_dam import make_dam5

ROWS = 300  # the first 300 readings of M014.txt


@pytest.fixture
def m014_lines(shared_data):
    return (shared_data / "activity/dam/M014.txt").read_text().splitlines(keepends=True)[:ROWS]


def _conflicting_copy(line: str, tube: int = 5, delta: int = 7) -> str:
    cells = line.rstrip("\r\n").split("\t")
    cells[3] = "1"
    cells[10 + tube - 1] = str(int(cells[10 + tube - 1]) + delta)
    return "\t".join(cells) + "\n"


def test_conflicting_duplicate_dam_readings_name_both_lines(tmp_path, m014_lines):
    """The same reading time twice with different counts: an error naming both lines and the tube."""
    lines = list(m014_lines)
    lines[200] = lines[200].replace("\t51\t", "\t1\t", 1)
    lines.insert(250, _conflicting_copy(lines[200]))  # line 251 repeats line 201's time, tube 5 +7
    f = tmp_path / "M014.txt"
    f.write_text("".join(lines))
    with pytest.raises(InputError) as exc:
        read_dam(f)
    msg = str(exc.value)
    assert "M014.txt: lines 201 and 251: two readings at " in msg and "with different counts (tube 5:" in msg
    assert "dam_on_duplicate" in msg


@pytest.mark.parametrize("choice", ["mean", "first", "last"])
def test_conflicting_duplicates_merged_only_by_explicit_choice_and_logged(tmp_path, m014_lines, choice, caplog):
    lines = list(m014_lines)
    lines[200] = lines[200].replace("\t51\t", "\t1\t", 1)
    lines.insert(250, _conflicting_copy(lines[200], tube=5, delta=8))
    f = tmp_path / "M014.txt"
    f.write_text("".join(lines))
    with caplog.at_level(logging.WARNING, logger="ethoflow"):
        recs, rep = read_dam(f, layout="per_monitor", on_duplicate=choice)
    assert rep["repeated_readings"] == 1 and rep["conflicting_readings"] == 1 and rep["dam_on_duplicate"] == choice
    assert f"1 of them with different counts: merged by hbehave.zarr.dam_on_duplicate={choice}" in caplog.text
    base = int(lines[200].split("\t")[10 + 4])
    rec = recs[0]
    when = np.datetime64(datetime.strptime(" ".join(lines[200].split("\t")[1:3]), "%d %b %y %H:%M:%S"), "m")
    k = int(np.flatnonzero(rec.timestamps == when)[0])
    got = rec.activity[k - 1 : k + 1, 4].sum()  # a 2-minute reading is spread over the 2 minutes ending at it
    expected = {"mean": base + 4, "first": base, "last": base + 8}[choice]
    assert got == pytest.approx(expected)


def test_identical_repeated_readings_are_merged_and_counted(tmp_path, m014_lines):
    lines = list(m014_lines)
    lines.insert(250, lines[200])
    f = tmp_path / "M014.txt"
    f.write_text("".join(lines))
    _, rep = read_dam(f, layout="per_monitor")
    assert rep["repeated_readings"] == 1 and rep["conflicting_readings"] == 0


def test_dam5_reading_without_its_ct_row_is_named_with_its_time(tmp_path, caplog):
    f = tmp_path / "M032.txt"
    make_dam5(f, n_readings=6)
    lines = f.read_text().splitlines(keepends=True)
    ct_lines = [i for i, ln in enumerate(lines) if ln.split("\t")[7] == "CT"]
    gone = ct_lines[3]
    when = " ".join(lines[gone].split("\t")[1:3])
    del lines[gone]
    f.write_text("".join(lines))
    with pytest.raises(InputError) as exc:
        read_dam(f)
    msg = str(exc.value)
    assert f"DAM5 reading at {when} (lines {gone + 1}-{gone + 41}, 41 rows of other data types) has no CT row" in msg
    with caplog.at_level(logging.WARNING, logger="ethoflow"):
        _, rep = read_dam(f, on_bad_row="skip")
    assert rep["problem_counts"] == {"missing_type_row": 1}
    assert rep["problems"][0]["value"] == when and when in caplog.text


# --------------------------------------------------------------------------- build06 latents


def _build06_args(tmp_path, *extra):
    from tests.build06.test_merge import df02_frame

    df02_frame().iloc[:5].to_csv(tmp_path / "df02.csv", index=False)
    args = ["build06", "--params", "none.yaml", "--model-name", "m1", "--df02", str(tmp_path / "df02.csv")]
    return [*args, "--latents-root", str(tmp_path / "latents"), "--out", str(tmp_path / "out/df03.parquet"), *extra]


def test_bio_nuisance_on_flat_latents_exits_2_unless_the_fallback_is_asked(tmp_path, capsys):
    from ethoflow.cli import main
    from tests.build06.test_merge import df02_frame, write_latents

    df = df02_frame().iloc[:5]
    for exp in ("e1", "e2"):
        write_latents(
            tmp_path / "latents" / "m1", exp, df[df.experiment_date == exp].snip_id, cols=["z_mu_00", "z_mu_01"]
        )
    assert main(_build06_args(tmp_path, "--z-schema", "bio_nuisance")) == 2
    err = capsys.readouterr().err
    assert "morph_latents_e1.csv: z_schema 'bio_nuisance' needs z_mu_b_XX and z_mu_n_XX columns" in err
    assert "bio_nuisance_or_flat" in err and not (tmp_path / "out").exists()
    assert main(_build06_args(tmp_path, "--z-schema", "bio_nuisance_or_flat")) == 0
    assert "uses its 2 flat z_mu_XX columns" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"e1": ["z_mu_00", "z_mu_01", "z_mu_03"]}, "morph_latents_e1.csv: latent column(s) z_mu_02 missing"),
        (
            {"e1": ["z_mu_00", "z_mu_01", "z_mu_02"], "e2": ["z_mu_00", "z_mu_01"]},
            "morph_latents_e2.csv: latent column(s) z_mu_02 missing (present in ",
        ),
    ],
    ids=["gap_in_one_file", "absent_from_the_second_file"],
)
def test_build06_names_a_missing_latent_column(tmp_path, capsys, files, named):
    from ethoflow.cli import main
    from tests.build06.test_merge import df02_frame, write_latents

    df = df02_frame()
    for exp, cols in files.items():
        write_latents(tmp_path / "latents" / "m1", exp, df[df.experiment_date == exp].snip_id, cols=cols)
    assert main([*_build06_args(tmp_path), "--experiments", ",".join(files)]) == 1
    assert named in capsys.readouterr().err
