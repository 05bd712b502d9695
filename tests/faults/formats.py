"""Every input format of every pipeline, with how to make a small valid file and which library loader reads it.

An :class:`InputFormat` gives the fault suite three things: ``make(folder) -> path`` (a small valid file,
from ``../shared/data`` or written here), ``load(path)`` (the library function a stage calls first on
that input; it must raise an ``EthoflowError`` naming the file, or return), and ``specific`` damages
(missing key/column, out-of-range, duplicate, wrong shape: what they mean depends on the format). The
generic kinds (truncated, empty, wrong type, encoding, symlink) apply to every format at once, so a new
format added to :data:`FORMATS` gets them all (``tests/faults/test_matrix.py``).

A specific damage is ``damage(path) -> str | None``: it damages the file in place and returns the text
the error must contain besides the file name (``None``: the file name is enough).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.conftest import SHARED_DATA

M014 = SHARED_DATA / "activity/dam/M014.txt"
SLP = SHARED_DATA / "keypoints/sleap/centered_pair_predictions.slp"
BODYPARTS = ["head", "b1", "b2", "tail"]


@dataclass
class InputFormat:
    """One input format: how to make it, how it is loaded, and the damages only it has."""

    name: str
    pipeline: str
    make: Callable[[Path], Path]
    load: Callable[[Path], object]
    text: bool
    specific: dict[str, Callable[[Path], str | None]] = field(default_factory=dict)
    needs_shared: bool = False


# --------------------------------------------------------------------------- helpers


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines))


# --------------------------------------------------------------------------- acoustic


def _make_audio(folder: Path, ext: str) -> Path:
    import soundfile as sf

    path = folder / f"tape{ext}"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(16000 * 2)).astype(np.float32), 16000, subtype="PCM_16")
    return path


def _load_audio(path: Path):
    from ethoflow.core.inputs import audio_info

    return audio_info(path)


RAVEN_HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tSpecies\n"


def _make_raven(folder: Path) -> Path:
    _make_audio(folder, ".wav").rename(folder / "rec.wav")
    path = folder / "rec.Table.1.selections.txt"
    rows = [
        f"{i}\tSpectrogram 1\t1\t{0.2 * i:.3f}\t{0.2 * i + 0.1:.3f}\t500.0\t4000.0\tsp{i % 2}\n" for i in range(1, 8)
    ]
    path.write_text(RAVEN_HEADER + "".join(rows))
    return path


def _corpus_loader(fmt: str, **src_kw):
    def load(path: Path):
        from ethoflow.acoustic.data.corpus import build_corpus
        from ethoflow.acoustic.params import CorpusParams

        src = {"name": "s", "format": fmt, "annotations": path.name, "audio": "rec.wav", **src_kw}
        return build_corpus(CorpusParams(sources=[src], on_error="fail"), root=path.parent)

    return load


def _raven_missing_column(path: Path) -> str:
    path.write_text(path.read_text().replace("\tSpecies\n", "\tSpecie\n", 1))
    return "label_column 'Species' is not a column"


def _raven_out_of_range(path: Path) -> str:
    lines = _lines(path)
    lines.append("99\tSpectrogram 1\t1\t5.000\t5.200\t500.0\t4000.0\tsp1\n")  # the recording is 2 s long
    _write_lines(path, lines)
    return "outside the recording"


def _raven_wrong_type(path: Path) -> str:
    lines = _lines(path)
    cells = lines[3].split("\t")
    cells[3] = "early"  # Begin Time (s) not a number
    lines[3] = "\t".join(cells)
    _write_lines(path, lines)
    return None


def _make_audacity(folder: Path) -> Path:
    _make_audio(folder, ".wav").rename(folder / "rec.wav")
    path = folder / "rec.txt"
    path.write_text("".join(f"{0.2 * i:.6f}\t{0.2 * i + 0.1:.6f}\tsp{i % 2}\n" for i in range(1, 8)))
    return path


def _audacity_out_of_range(path: Path) -> str:
    path.write_text(path.read_text() + "5.000000\t5.200000\tsp1\n")
    return "outside the recording"


# --------------------------------------------------------------------------- moseq


def _dlc_frame(bodyparts=BODYPARTS, n=40):
    from ethoflow.demo.moseq import to_dlc_frame

    rng = np.random.default_rng(0)
    return to_dlc_frame(rng.normal(100, 10, (n, len(bodyparts), 2)), np.full((n, len(bodyparts)), 0.9), bodyparts)


def _make_dlc_h5(folder: Path) -> Path:
    from ethoflow.demo.moseq import _write_dlc_h5

    path = folder / "session1.h5"
    _write_dlc_h5(_dlc_frame(), path)
    return path


def _make_dlc_csv(folder: Path) -> Path:
    path = folder / "session1.csv"
    _dlc_frame().to_csv(path)
    return path


def _load_pose(fmt: str):
    def load(path: Path):
        from ethoflow.core.pose_files import check_bodyparts, check_keypoint_file

        bps = check_keypoint_file(path, fmt)
        check_bodyparts({str(path): bps}, {"moseq.load.anterior_bodyparts": ["head"]} if fmt == "deeplabcut" else {})
        return bps

    return load


def _dlc_h5_missing_column(path: Path) -> str:
    from ethoflow.demo.moseq import _write_dlc_h5

    df = _dlc_frame()
    _write_dlc_h5(df.drop(columns=[("ethoflowDemoDLC", "b1", "likelihood")]), path)
    return "bodypart 'b1' has coords ['x', 'y'], expected ['x', 'y', 'likelihood']"


def _dlc_h5_missing_bodypart(path: Path) -> str:
    from ethoflow.demo.moseq import _write_dlc_h5

    _write_dlc_h5(_dlc_frame(bodyparts=["neck", "b1", "b2", "tail"]), path)
    return "bodypart(s) ['head'] of moseq.load.anterior_bodyparts not in this file"


def _dlc_h5_wrong_shape(path: Path) -> str:
    import pandas as pd

    from ethoflow.demo.moseq import _write_dlc_h5

    _write_dlc_h5(pd.DataFrame(np.zeros((5, 4)), columns=list("abcd")), path)
    return "not a DeepLabCut table: no 'bodyparts' column level"


def _dlc_csv_missing_column(path: Path) -> str:
    _dlc_frame().drop(columns=[("ethoflowDemoDLC", "b1", "likelihood")]).to_csv(path)
    return "bodypart 'b1' has coords ['x', 'y'], expected ['x', 'y', 'likelihood']"


def _dlc_csv_missing_bodypart(path: Path) -> str:
    _dlc_frame(bodyparts=["neck", "b1", "b2", "tail"]).to_csv(path)
    return "bodypart(s) ['head'] of moseq.load.anterior_bodyparts not in this file"


def _dlc_csv_wrong_type(path: Path) -> str:
    lines = _lines(path)
    cells = lines[5].split(",")
    cells[2] = "n/a?"
    lines[5] = ",".join(cells)
    _write_lines(path, lines)
    return "line 6, column 3: non-numeric value 'n/a?'"


def _make_slp(folder: Path) -> Path:
    path = folder / "flies.slp"
    shutil.copyfile(SLP, path)
    return path


def _slp_missing_key(path: Path) -> str:
    import h5py

    with h5py.File(path, "a") as f:
        del f["frames"]
    return "not a SLEAP labels file: missing frames"


def _make_sleap_h5(folder: Path) -> Path:
    import h5py

    path = folder / "flies.analysis.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["tracks"] = rng.normal(size=(2, 2, 4, 30))
        f["point_scores"] = np.ones((2, 4, 30))
        f["node_names"] = np.array([b.encode() for b in BODYPARTS])
    return path


def _sleap_h5_wrong_shape(path: Path) -> str:
    import h5py

    with h5py.File(path, "a") as f:
        del f["tracks"]
        f["tracks"] = np.zeros((2, 2, 3, 30))  # 3 nodes, 4 names
    return "SLEAP 'tracks' has shape (2, 2, 3, 30), expected (tracks, 2, 4 nodes, frames > 0)"


def _sleap_h5_missing_key(path: Path) -> str:
    import h5py

    with h5py.File(path, "a") as f:
        del f["node_names"]
    return "not a SLEAP analysis file: missing node_names"


def make_nwb_file(path: Path, bodyparts=BODYPARTS, frames: int = 30, shapes: dict | None = None) -> Path:
    """An NWB file with one ndx-pose PoseEstimation (one series per bodypart, 2-D, ``frames`` long)."""
    import datetime as dt

    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile("pose", "s1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    skeleton = Skeleton(name="animal", nodes=list(bodyparts), edges=np.array([[0, 1]], dtype="uint8"))
    rng = np.random.default_rng(0)
    series = [
        PoseEstimationSeries(
            name=b,
            data=rng.normal(size=(shapes or {}).get(b, (frames, 2))),
            unit="pixels",
            reference_frame="top left",
            rate=30.0,
            confidence=np.ones((shapes or {}).get(b, (frames, 2))[0]),
        )
        for b in bodyparts
    ]
    pose = PoseEstimation(name="PoseEstimation", pose_estimation_series=series, skeleton=skeleton, source_software="x")
    module = nwb.create_processing_module("behavior", "pose")
    module.add(Skeletons(skeletons=[skeleton]))
    module.add(pose)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


_NWB_CACHE: dict[str, bytes] = {}


def _make_nwb(folder: Path) -> Path:
    path = folder / "session1.nwb"
    if "ok" not in _NWB_CACHE:  # pynwb costs seconds: write once per test session, copy after
        _NWB_CACHE["ok"] = make_nwb_file(folder / ".nwb_tmp.nwb").read_bytes()
    path.write_bytes(_NWB_CACHE["ok"])
    return path


def _nwb_wrong_shape(path: Path) -> str:
    if "short" not in _NWB_CACHE:
        _NWB_CACHE["short"] = make_nwb_file(path.parent / ".short.nwb", shapes={"b2": (20, 2)}).read_bytes()
    path.write_bytes(_NWB_CACHE["short"])
    return "PoseEstimationSeries differ in length"


def _nwb_missing_key(path: Path) -> str:
    import h5py

    with h5py.File(path, "a") as f:
        del f["processing/behavior/PoseEstimation"]
    return "NWB file holds 0 PoseEstimation objects"


# --------------------------------------------------------------------------- hbehave


def _make_dam2(folder: Path) -> Path:
    path = folder / "M014.txt"
    path.write_text("".join(M014.read_text().splitlines(keepends=True)[:200]))
    return path


def _load_dam(path: Path):
    from ethoflow.hbehave.io import read_dam

    return read_dam(path)


def _dam_out_of_range(path: Path) -> str:
    lines = _lines(path)
    cells = lines[150].split("\t")
    cells[3], cells[12] = "1", "99999"
    lines[150] = "\t".join(cells)
    _write_lines(path, lines)
    return "line 151: count 99999 above hbehave.zarr.dam_max_count"


def _dam_duplicate(path: Path) -> str:
    lines = _lines(path)
    cells = lines[150].rstrip("\n").split("\t")
    cells[3], cells[12] = "1", str(int(cells[12]) + 3)
    lines.insert(160, "\t".join(cells) + "\n")
    _write_lines(path, lines)
    return "lines 151 and 161: two readings at"


def _dam_missing_column(path: Path) -> str:
    lines = _lines(path)
    lines[120] = "\t".join(lines[120].split("\t")[:30]) + "\n"
    _write_lines(path, lines)
    return "line 121: 30 columns instead of 42"


def _make_dam5(folder: Path) -> Path:
    from tests.hbehave.test_dam import make_dam5

    path = folder / "M032.txt"
    make_dam5(path, n_readings=5)
    return path


def _dam5_missing_key(path: Path) -> str:
    lines = [ln for i, ln in enumerate(_lines(path)) if not (ln.split("\t")[7] == "CT" and i > 42)]
    _write_lines(path, lines[: 42 * 3 - 1])
    return "has no CT row"


def _make_activity_csv(folder: Path) -> Path:
    path = folder / "cage1.csv"
    ts = np.datetime64("2024-01-01T00:00") + np.arange(120).astype("timedelta64[m]")
    rows = [f"{str(t).replace('T', ' ')}:00,{i % 7},{i % 5}\n" for i, t in enumerate(ts)]
    path.write_text("timestamp,v_1,v_2\n" + "".join(rows))
    return path


def _load_activity(path: Path):
    from ethoflow.hbehave.io import read_ventilated_cage_csv

    return read_ventilated_cage_csv(path, duplicates="error")


def _activity_missing_column(path: Path) -> str:
    path.write_text(path.read_text().replace("timestamp,", "time,", 1))
    return "no 'timestamp' column"


def _activity_duplicate(path: Path) -> str:
    lines = _lines(path)
    lines.insert(50, lines[40].replace(",", ",9", 1))
    _write_lines(path, lines)
    return "duplicate timestamps (duplicates=error): 2024-01-01T00:39"


def _make_summary(folder: Path) -> Path:
    path = folder / "summary.csv"
    path.write_text("cage_id,strain,from_tpt,to_tpt\ncage1,B6,2024-01-01 00:00,2024-01-01 02:00\n")
    return path


def _load_summary(path: Path):
    from ethoflow.hbehave.io import read_summary

    return read_summary(path)


def _summary_duplicate(path: Path) -> str:
    path.write_text(path.read_text() + "cage1,B6,2024-01-01 00:00,2024-01-01 02:00\n")
    return "cage_id listed more than once: cage1"


def _summary_wrong_type(path: Path) -> str:
    path.write_text(path.read_text().replace("2024-01-01 02:00", "tomorrow"))
    return "row 2: unparseable to_tpt 'tomorrow'"


def _make_pretrained(folder: Path) -> Path:
    import torch

    path = folder / "hbehave_pretrained.pth"
    torch.save({"model": {"w": torch.zeros(3)}, "epoch": 1}, path)
    return path


def _load_pretrained(path: Path):
    from ethoflow.hbehave.pretrained import read_checkpoint

    return read_checkpoint(path)


def _pretrained_wrong_type(path: Path) -> str:
    import torch

    torch.save([1, 2, 3], path)
    return "not a checkpoint (a list, not a dict)"


# --------------------------------------------------------------------------- vae / build06


def _make_vae_model(folder: Path) -> Path:
    import torch

    path = folder / "model.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "params": {"latent_dim": 2}}, path)
    return path


def _load_vae_model(path: Path):
    from ethoflow.core.io import load_torch

    return load_torch(path, "VAE model file", map_location="cpu", weights_only=True)


def _df02_frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "snip_id": [f"e1_c1_t{i:04d}" for i in range(6)],
            "experiment_date": ["e1"] * 6,
            "cage_id": ["c1"] * 6,
            "start_minute": np.arange(6) * 30,
        }
    )


def _make_df02(ext: str):
    def make(folder: Path) -> Path:
        path = folder / f"df02{ext}"
        df = _df02_frame()
        df.to_parquet(path) if ext == ".parquet" else df.to_csv(path, index=False)
        return path

    return make


def _load_df02(path: Path):
    from ethoflow.vae.snips import read_df02

    return read_df02(path)


def _df02_missing_column(path: Path) -> str:
    df = _df02_frame().drop(columns=["snip_id"])
    df.to_parquet(path) if path.suffix == ".parquet" else df.to_csv(path, index=False)
    return "df02 has no 'snip_id' column"


def _make_latents(folder: Path) -> Path:
    path = folder / "morph_latents_e1.csv"
    rows = [f"e1_c1_t{i:04d},{0.1 * i:.4f},{-0.2 * i:.4f},{0.05 * i:.4f}\n" for i in range(6)]
    path.write_text("snip_id,z_mu_00,z_mu_01,z_mu_02\n" + "".join(rows))
    return path


def _load_latents(path: Path):
    from ethoflow.build06.latents import load_latents

    return load_latents({"e1": path})


def _latents_missing_column(path: Path) -> str:
    import pandas as pd

    pd.read_csv(path).drop(columns=["z_mu_01"]).to_csv(path, index=False)
    return "latent column(s) z_mu_01 missing"


def _latents_duplicate(path: Path) -> str:
    lines = _lines(path)
    _write_lines(path, [*lines, lines[2]])
    return "e1_c1_t0001"


def _latents_wrong_type(path: Path) -> str:
    path.write_text(path.read_text().replace("0.1000", "high", 1))
    return None


def _latents_out_of_range(path: Path) -> str:
    path.write_text(path.read_text().replace("0.1000", "inf", 1))
    return "non-finite z value in column z_mu_00 for snip_id 'e1_c1_t0001'"


# --------------------------------------------------------------------------- core


def _make_params(folder: Path) -> Path:
    from tests.conftest import REPO

    path = folder / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", path)
    return path


def _load_params(path: Path):
    from ethoflow.config import load_project_params

    return load_project_params(path)


def _params_missing_key(path: Path) -> str:
    path.write_text(path.read_text().replace("    dam_on_bad_row: fail", "    dam_on_bad_rows: fail", 1))
    return "hbehave.zarr.dam_on_bad_rows: unknown key"


def _params_out_of_range(path: Path) -> str:
    path.write_text(path.read_text().replace("    dam_max_count: 1000", "    dam_max_count: -5", 1))
    return "hbehave.zarr.dam_max_count"


def _params_wrong_type(path: Path) -> str:
    path.write_text(path.read_text().replace("    dam_max_count: 1000", "    dam_max_count: lots", 1))
    return "hbehave.zarr.dam_max_count"


def _params_duplicate(path: Path) -> str:
    text = path.read_text()
    path.write_text(text.replace("    dam_max_count: 1000", "    dam_max_count: 1000\n    dam_max_count: 20", 1))
    return "dam_max_count"


FORMATS: list[InputFormat] = [
    InputFormat("wav", "acoustic", lambda d: _make_audio(d, ".wav"), _load_audio, text=False),
    InputFormat("flac", "acoustic", lambda d: _make_audio(d, ".flac"), _load_audio, text=False),
    InputFormat(
        "raven_table",
        "acoustic",
        _make_raven,
        _corpus_loader("raven", label_column="Species"),
        text=True,
        specific={
            "missing_column": _raven_missing_column,
            "out_of_range": _raven_out_of_range,
            "wrong_value": _raven_wrong_type,
        },
    ),
    InputFormat(
        "audacity_labels",
        "acoustic",
        _make_audacity,
        _corpus_loader("aud-seq"),
        text=True,
        specific={"out_of_range": _audacity_out_of_range},
    ),
    InputFormat(
        "dlc_h5",
        "moseq",
        _make_dlc_h5,
        _load_pose("deeplabcut"),
        text=False,
        specific={
            "missing_column": _dlc_h5_missing_column,
            "missing_bodypart": _dlc_h5_missing_bodypart,
            "wrong_shape": _dlc_h5_wrong_shape,
        },
    ),
    InputFormat(
        "dlc_csv",
        "moseq",
        _make_dlc_csv,
        _load_pose("deeplabcut"),
        text=True,
        specific={
            "missing_column": _dlc_csv_missing_column,
            "missing_bodypart": _dlc_csv_missing_bodypart,
            "wrong_value": _dlc_csv_wrong_type,
        },
    ),
    InputFormat(
        "sleap_slp",
        "moseq",
        _make_slp,
        _load_pose("sleap"),
        text=False,
        specific={"missing_key": _slp_missing_key},
        needs_shared=True,
    ),
    InputFormat(
        "sleap_h5",
        "moseq",
        _make_sleap_h5,
        _load_pose("sleap"),
        text=False,
        specific={"missing_key": _sleap_h5_missing_key, "wrong_shape": _sleap_h5_wrong_shape},
    ),
    InputFormat(
        "nwb",
        "moseq",
        _make_nwb,
        _load_pose("nwb"),
        text=False,
        specific={"missing_key": _nwb_missing_key, "wrong_shape": _nwb_wrong_shape},
    ),
    InputFormat(
        "dam2",
        "hbehave",
        _make_dam2,
        _load_dam,
        text=True,
        specific={
            "missing_column": _dam_missing_column,
            "out_of_range": _dam_out_of_range,
            "duplicate": _dam_duplicate,
        },
        needs_shared=True,
    ),
    InputFormat("dam5", "hbehave", _make_dam5, _load_dam, text=True, specific={"missing_key": _dam5_missing_key}),
    InputFormat(
        "activity_csv",
        "hbehave",
        _make_activity_csv,
        _load_activity,
        text=True,
        specific={"missing_column": _activity_missing_column, "duplicate": _activity_duplicate},
    ),
    InputFormat(
        "summary_csv",
        "hbehave",
        _make_summary,
        _load_summary,
        text=True,
        specific={"duplicate": _summary_duplicate, "wrong_value": _summary_wrong_type},
    ),
    InputFormat(
        "pretrained_checkpoint",
        "hbehave",
        _make_pretrained,
        _load_pretrained,
        text=False,
        specific={"wrong_value": _pretrained_wrong_type},
    ),
    InputFormat("vae_model", "vae", _make_vae_model, _load_vae_model, text=False),
    InputFormat(
        "df02_parquet",
        "vae",
        _make_df02(".parquet"),
        _load_df02,
        text=False,
        specific={"missing_column": _df02_missing_column},
    ),
    InputFormat(
        "df02_csv", "vae", _make_df02(".csv"), _load_df02, text=True, specific={"missing_column": _df02_missing_column}
    ),
    InputFormat(
        "latents_csv",
        "build06",
        _make_latents,
        _load_latents,
        text=True,
        specific={
            "missing_column": _latents_missing_column,
            "duplicate": _latents_duplicate,
            "wrong_value": _latents_wrong_type,
            "out_of_range": _latents_out_of_range,
        },
    ),
    InputFormat(
        "params_yaml",
        "core",
        _make_params,
        _load_params,
        text=True,
        specific={
            "missing_key": _params_missing_key,
            "out_of_range": _params_out_of_range,
            "wrong_value": _params_wrong_type,
            "duplicate": _params_duplicate,
        },
    ),
]
