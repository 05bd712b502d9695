"""Checkpoints of the authors' BehaveMAE code: parity with their model, clear errors, stats files,
extraction through the stage without training, and ethoflow's own checkpoints unchanged.

Reference data (``tests/hbehave/data/behavemae/``):

- ``tiny_full_pos`` / ``tiny_sep_pos``: ``<name>.pth`` saved by the authors' ``util.misc.save_model``
  from a random-initialised ``hbehavemae`` model, ``<name>_io.npz`` its per-level encoder outputs for a
  fixed input (their ``return_intermediates`` levels, ``(B, T_l, H_l, W_l, out_dim)``), ``<name>.json``
  the architecture arguments and provenance, ``stats.npy`` z-score stats as their Digital Ventilated Cage training code
  saves them. Made by ``tests/hbehave/make_behavemae_reference.py`` with amathislab/BehaveMAE's code
  (commit in the JSON), outside this repository's environment.
- ``ethoflow_before_pretrained.pt`` / ``_io.npz``: a tiny ethoflow checkpoint (random weights) saved by
  ``model.py`` as of commit ed3eeef, before the pretrained-checkpoint fields existed, with its
  ``embed`` levels (a window twice the trained length: interpolated positions) and one seeded training
  forward (loss, prediction, mask).
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.hbehave.extract import load_embeddings, load_model
from ethoflow.hbehave.model import HBehaveMAE
from ethoflow.hbehave.params import HBehaveParams, PretrainedArchitecture, PretrainedParams
from ethoflow.hbehave.pretrained import (
    convert_checkpoint,
    load_stats,
    read_checkpoint,
    resolve_arguments,
    resolve_model,
)

DATA = Path(__file__).parent / "data" / "behavemae"
REFS = ("tiny_full_pos", "tiny_sep_pos")
STATS = DATA / "stats.npy"


def _converted(name: str, tmp_path: Path, **params) -> HBehaveMAE:
    out = tmp_path / f"{name}.pt"
    convert_checkpoint(DATA / f"{name}.pth", PretrainedParams(stats=str(STATS), **params), out)
    model, _ = load_model(out)
    return model


@pytest.mark.parametrize("name", REFS)
def test_levels_match_the_authors_model(name, tmp_path):
    """Every level of the authors' encoder (their code, their checkpoint) within 1e-5."""
    model = _converted(name, tmp_path)
    ref = np.load(DATA / f"{name}_io.npz")
    meta = json.loads((DATA / f"{name}.json").read_text())
    grids = model.level_grids(torch.from_numpy(ref["x"]))
    assert len(grids) == len(meta["level_shapes"]) == 3
    for i, g in enumerate(grids):
        want = ref[f"level{i + 1}"]
        assert list(g.shape) == meta["level_shapes"][i] == list(want.shape)
        assert np.abs(g.numpy() - want).max() < 1e-5, (name, i + 1)
    # embed(): the same levels, spatial tokens averaged (the authors' --embedsum)
    for e, g in zip(model.embed(torch.from_numpy(ref["x"])), grids):
        torch.testing.assert_close(e, g.mean(dim=(2, 3)))
    assert model.level_dims == tuple(meta["architecture"]["out_embed_dims"])


def test_reference_sees_the_pooling_block_scope(tmp_path):
    """tiny_sep_pos switches mask-unit attention back on in stage 3; the authors' pooling block keeps
    stage 2's global scope. ethoflow's own rule (``either``) would differ: the reference can tell."""
    out = tmp_path / "c.pt"
    convert_checkpoint(DATA / "tiny_sep_pos.pth", PretrainedParams(stats=str(STATS)), out)
    ck = torch.load(out, weights_only=True)
    ck["architecture"]["pool_attn"] = "either"
    buf = io.BytesIO()
    torch.save(ck, buf)
    (tmp_path / "either.pt").write_bytes(buf.getvalue())
    model, _ = load_model(tmp_path / "either.pt")
    ref = np.load(DATA / "tiny_sep_pos_io.npz")
    last = model.level_grids(torch.from_numpy(ref["x"]))[-1].numpy()
    assert np.abs(last - ref["level3"]).max() > 1e-3


def test_architecture_from_the_checkpoint_args_and_conflicts():
    ck = read_checkpoint(DATA / "tiny_full_pos.pth")
    args = vars(ck["args"])
    a = resolve_arguments(PretrainedParams(), args, ck["model"], "x.pth")
    assert a["stages"] == [1, 2, 2] and a["q_strides"] == [(2, 1, 1), (3, 1, 2)] and a["sep_pos_embed"] is False
    same = PretrainedParams(architecture=PretrainedArchitecture(stages="1 2 2", q_strides="2,1,1;3,1,2"))
    assert resolve_arguments(same, args, ck["model"], "x.pth") == a
    other = PretrainedParams(architecture=PretrainedArchitecture(stages=[1, 2, 3], init_embed_dim=16))
    with pytest.raises(
        ParamsError,
        match=r"x\.pth: .*stages: params \[1, 2, 3\] vs checkpoint args \[1, 2, 2\]; "
        r"init_embed_dim: params 16 vs checkpoint args 8",
    ):
        resolve_arguments(other, args, ck["model"], "x.pth")
    with pytest.raises(ParamsError, match="no saved args for input_size, patch_kernel"):
        resolve_arguments(PretrainedParams(), {}, ck["model"], "x.pth")
    # without args, sep_pos_embed is read from the keys
    full = PretrainedParams(
        architecture=PretrainedArchitecture(
            **{
                k: v
                for k, v in json.loads((DATA / "tiny_sep_pos.json").read_text())["architecture"].items()
                if k in PretrainedArchitecture.model_fields and k != "sep_pos_embed"
            }
        )
    )
    sep = read_checkpoint(DATA / "tiny_sep_pos.pth")["model"]
    assert resolve_arguments(full, {}, sep, "y.pth")["sep_pos_embed"] is True


def _without_args(tmp_path: Path, name: str, edit=None) -> tuple[Path, PretrainedParams]:
    """The reference checkpoint with ``edit`` applied to its state dict and no saved args (architecture
    from params only, so shape problems reach the state-dict check)."""
    ck = read_checkpoint(DATA / f"{name}.pth")
    arch = {
        k: v
        for k, v in json.loads((DATA / f"{name}.json").read_text())["architecture"].items()
        if k in PretrainedArchitecture.model_fields
    }
    sd = dict(ck["model"])
    if edit:
        edit(sd)
    path = tmp_path / "edited.pth"
    torch.save({"model": sd, "epoch": 3}, path)
    return path, PretrainedParams(stats=str(STATS), architecture=PretrainedArchitecture(**arch))


def test_wrong_shapes_are_one_line_naming_file_keys_and_shapes(tmp_path):
    path, params = _without_args(tmp_path, "tiny_full_pos")
    wider = params.model_copy(update={"architecture": params.architecture.model_copy(update={"init_embed_dim": 16})})
    with pytest.raises(InputError) as err:
        convert_checkpoint(path, wider, tmp_path / "o.pt")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: checkpoint does not match hbehave.pretrained.architecture")
    assert (
        "70 of another shape: pos_embed [1, 48, 8] (expected [1, 48, 16]), patch_embed.proj.weight [8, 1, 2, 1, 2] "
        "(expected [16, 1, 2, 1, 2])"
        in msg
        and msg.count(" (expected ") == 4
    )  # the first four
    # a projection width other than the file's
    narrow = params.model_copy(
        update={"architecture": params.architecture.model_copy(update={"out_embed_dims": [6, 10, 13]})}
    )
    with pytest.raises(
        InputError,
        match=r"2 of another shape: projections\.2\.weight \[12, 32\] \(expected \[13, 32\]\), projections\.2\.bias \[12\]",
    ):
        convert_checkpoint(path, narrow, tmp_path / "o.pt")


def test_missing_and_unexpected_keys(tmp_path):
    def drop(sd):
        del sd["blocks.1.mlp.fc1.weight"]
        sd["blocks.9.norm1.weight"] = torch.zeros(3)

    path, params = _without_args(tmp_path, "tiny_full_pos", drop)
    with pytest.raises(
        InputError,
        match=r"edited\.pth: .*1 missing: blocks\.1\.mlp\.fc1\.weight; "
        r"1 not in this architecture: blocks\.9\.norm1\.weight \[3\]",
    ):
        convert_checkpoint(path, params, tmp_path / "o.pt")
    # a sep_pos_embed that contradicts the file: the positional keys are named
    flipped = params.model_copy(update={"architecture": params.architecture.model_copy(update={"sep_pos_embed": True})})
    path, _ = _without_args(tmp_path, "tiny_full_pos")
    with pytest.raises(
        InputError, match="missing: pos_embed_temporal, pos_embed_spatial.*not in this architecture: pos_embed"
    ):
        convert_checkpoint(path, flipped, tmp_path / "o.pt")
    # decoder keys are not needed
    path, params = _without_args(
        tmp_path, "tiny_full_pos", lambda sd: [sd.pop(k) for k in list(sd) if k.startswith("decoder")]
    )
    convert_checkpoint(path, params, tmp_path / "o.pt")


def test_not_a_checkpoint(tmp_path):
    p = PretrainedParams(stats=str(STATS))
    with pytest.raises(InputError, match="nothere.pth: checkpoint not found"):
        resolve_model(tmp_path / "nothere.pth", p, tmp_path)
    (tmp_path / "text.pth").write_text("not a checkpoint\n")
    with pytest.raises(InputError, match=r"text\.pth: not a readable PyTorch checkpoint"):
        resolve_model(tmp_path / "text.pth", p, tmp_path)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(InputError, match=r"list\.pth: not a checkpoint \(a list, not a dict\)"):
        resolve_model(tmp_path / "list.pth", p, tmp_path)
    torch.save({"weights": torch.zeros(2), "epoch": 1}, tmp_path / "other.pth")
    with pytest.raises(InputError, match=r"other\.pth: neither an ethoflow checkpoint .* keys: weights, epoch"):
        resolve_model(tmp_path / "other.pth", p, tmp_path)
    with pytest.raises(InputError, match="not a BehaveMAE checkpoint"):
        convert_checkpoint(tmp_path / "other.pth", p, tmp_path / "o.pt")

    # a pickle that would run code is refused, not executed
    class Boom:
        def __reduce__(self):
            return (print, ("executed",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"model": Boom()}, protocol=2))
    with pytest.raises(InputError, match=r"evil\.pth: not a readable PyTorch checkpoint"):
        resolve_model(tmp_path / "evil.pth", p, tmp_path)
    # handing the authors' checkpoint straight to extraction's loader names what to do
    torch.save({"model": {"x": torch.zeros(1)}}, tmp_path / "raw.pth")
    with pytest.raises(InputError, match=r"a BehaveMAE checkpoint .*pretrained\.resolve_model"):
        load_model(tmp_path / "raw.pth")


def test_stats_files(tmp_path):
    assert load_stats(STATS) == {"mean": 3.25, "std": 1.75}
    np.save(tmp_path / "a.npy", np.array([2.0, 4.0]))
    assert load_stats(tmp_path / "a.npy") == {"mean": 2.0, "std": 4.0}
    np.save(tmp_path / "b.npy", np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 2.0]]))
    assert load_stats(tmp_path / "b.npy", 3) == {"mean": [1.0, 2.0, 3.0], "std": [1.0, 1.0, 2.0]}
    with pytest.raises(InputError, match="3 per-channel statistics but the store has 12 channels"):
        load_stats(tmp_path / "b.npy", 12)
    np.savez(tmp_path / "c.npz", mean=np.full(2, 1.5), std=np.full(2, 0.5))
    assert load_stats(tmp_path / "c.npz") == {"mean": [1.5, 1.5], "std": [0.5, 0.5]}
    np.save(tmp_path / "d.npy", {"mean": np.float32(1.0), "std": np.float64(0.0)})
    with pytest.raises(InputError, match="std > 0"):
        load_stats(tmp_path / "d.npy")
    np.save(tmp_path / "e.npy", np.zeros((3, 4)))
    with pytest.raises(InputError, match=r"found array of shape \(3, 4\)"):
        load_stats(tmp_path / "e.npy")
    np.save(tmp_path / "f.npy", {"mean": 1.0, "std": print})  # a pickled function: refused, never called
    with pytest.raises(InputError, match="unreadable z-score stats file .*refusing to unpickle builtins.print"):
        load_stats(tmp_path / "f.npy")
    with pytest.raises(InputError, match="z-score stats file not found"):
        load_stats(tmp_path / "none.npy")


def test_normalise_switch(tmp_path):
    with pytest.raises(ParamsError, match="hbehave.pretrained.stats: .*tiny_full_pos.pth is a BehaveMAE checkpoint"):
        convert_checkpoint(DATA / "tiny_full_pos.pth", PretrainedParams(), tmp_path / "o.pt")
    convert_checkpoint(DATA / "tiny_full_pos.pth", PretrainedParams(normalise=False), tmp_path / "o.pt")
    assert torch.load(tmp_path / "o.pt", weights_only=True)["normalisation"] == {
        "mode": "none",
        "mean": 0.0,
        "std": 1.0,
    }
    with pytest.raises(InputError, match=r"reads 1\*4 = 4 channels per minute .* the store has 12"):
        convert_checkpoint(
            DATA / "tiny_full_pos.pth", PretrainedParams(normalise=False), tmp_path / "o.pt", n_channels=12
        )


#: tolerance against a reference written on another machine: the same checkpoint and input moved the
#: outputs (values up to 0.83) by at most 5.5e-6 across CPU dispatch settings on one AVX-512 machine
#: (plain 3.7e-6, ATen avx2 5.4e-6 / default 5.5e-6, oneDNN AVX2 5.2e-6, portable mode 2.5e-6 from the
#: reference; any thread count the same), so 4x that. Byte identity holds only within one machine.
CROSS_MACHINE_ATOL, CROSS_MACHINE_RTOL = 2e-5, 1e-5


def test_ethoflow_checkpoints_load_and_give_identical_outputs():
    """A checkpoint saved before the pretrained fields existed: same levels and training forward as the
    reference written on another machine (within :data:`CROSS_MACHINE_ATOL`), and bit for bit on a rerun here."""
    model, meta = load_model(DATA / "ethoflow_before_pretrained.pt")
    ref = np.load(DATA / "ethoflow_before_pretrained_io.npz")
    a = model.arch
    assert (a.pos_embed, a.level_proj_dims, a.final_norm, a.pool_attn, a.norm_eps, a.encoder_only) == (
        "separable",
        None,
        True,
        "either",
        1e-5,
        False,
    )
    x = torch.from_numpy(ref["x"])

    def outputs():
        with torch.no_grad():
            levels = [lv.numpy() for lv in model.embed(x)]
            loss, pred, mask = model(x[:, :, : a.input_size[0]], None, torch.Generator().manual_seed(9))
        return levels, loss.numpy(), pred.numpy(), mask.numpy()

    levels, loss, pred, mask = outputs()
    tol = dict(atol=CROSS_MACHINE_ATOL, rtol=CROSS_MACHINE_RTOL)
    for i, lv in enumerate(levels):
        np.testing.assert_allclose(lv, ref[f"level{i + 1}"], **tol)
    np.testing.assert_allclose(loss, ref["loss"], **tol)
    np.testing.assert_allclose(pred, ref["pred"], **tol)
    np.testing.assert_array_equal(mask, ref["mask"])  # drawn from the seeded generator: exact anywhere
    # within one machine: the same bytes again
    again = outputs()
    for got, want in zip([*again[0], *again[1:]], [*levels, loss, pred, mask]):
        np.testing.assert_array_equal(got, want)
    # the file has none of the new fields; they take their defaults
    assert not {"pos_embed", "level_proj_dims", "final_norm", "pool_attn", "norm_eps", "encoder_only"} & set(
        meta["architecture"]
    )


def test_stage_extracts_from_a_behavemae_checkpoint_without_training(tiny_store, in_tmp):
    """``hbehave.extract.model`` set to the authors' checkpoint: the stage converts it, z-scores with the
    stats file, and writes the level embeddings with the projection widths."""
    import importlib.util

    lab = in_tmp / "lab"
    lab.mkdir()
    shutil.copy(DATA / "tiny_full_pos.pth", lab / "checkpoint-00000.pth")
    shutil.copy(STATS, lab / "zscore_stats.npy")
    params = {
        "hbehave": {
            "extract": {
                "model": "lab/checkpoint-00000.pth",
                "aggregations": {"48min": 48, "96min": 96},
                "window_stride_min": 48,
                "batch_size": 8,
                "precision": "fp32",
            },
            "pretrained": {"stats": "lab/zscore_stats.npy", "normalise": True},
        }
    }
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    HBehaveParams(**params["hbehave"])  # valid as written
    spec = importlib.util.spec_from_file_location(
        "stage_hbehave_extract", Path(__file__).parents[2] / "stages" / "hbehave_extract.py"
    )
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    stage.main(
        ["--agg", "48min", "--model", params["hbehave"]["extract"]["model"], "--store", str(tiny_store)]
        + ["--out", "emb", "--summary", "emb/summary.json", "--work-dir", ".ethoflow/hbehave_extract"]
    )
    summary = json.loads((in_tmp / "emb" / "summary.json").read_text())
    assert summary["dims"] == {"level1": 6, "level2": 10, "level3": 12, "comb": 28}
    assert summary["model"]["format"] == "behavemae" and summary["model"]["stats"] == "lab/zscore_stats.npy"
    assert summary["model"]["arguments"]["q_strides"] == "2,1,1;3,1,2" and summary["rows"] == 3 * 1440
    assert len(list((in_tmp / ".ethoflow" / "hbehave_extract").glob("pretrained-*.pt"))) == 1
    # windows of 48 minutes at stride 48 do not overlap: minute rows are the model's tokens of the
    # z-scored activity, spread to the minutes they cover
    from ethoflow.hbehave.store import read_cage

    rec = read_cage(tiny_store, "cage01")
    z = np.where(rec.valid, (np.nan_to_num(rec.activity) - 3.25) / 1.75, 0.0).astype(np.float32)
    model, _ = load_model(next((in_tmp / ".ethoflow" / "hbehave_extract").glob("pretrained-*.pt")))
    x = torch.from_numpy(z[48:96]).reshape(1, 1, 48, 1, 4)
    lv1 = model.embed(x)[0][0].numpy()  # (24 tokens of 2 minutes, 6)
    got = load_embeddings(in_tmp / "emb" / "embeddings_48min_level1.npz")["embeddings"][48:96]
    np.testing.assert_allclose(got, np.repeat(lv1, 2, axis=0), atol=1e-6)
    # a longer window: positions interpolated, the same file
    stage.main(
        ["--agg", "96min", "--model", params["hbehave"]["extract"]["model"], "--store", str(tiny_store)]
        + ["--out", "emb96", "--summary", "emb96/summary.json", "--work-dir", ".ethoflow/hbehave_extract"]
    )
    assert json.loads((in_tmp / "emb96" / "summary.json").read_text())["rows"] == 3 * 1440
