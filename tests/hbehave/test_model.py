"""hBehaveMAE: patching and pooling shapes at every level, masking, presets, divisibility errors."""

from __future__ import annotations

import math

import pytest
import torch

from ethoflow.core.errors import ParamsError
from ethoflow.hbehave.model import (
    build_architecture,
    build_model,
    count_parameters,
    describe,
    pool_units,
)
from ethoflow.hbehave.params import VENTILATED_CAGE_4WEEK_PRESET, ModelParams, parse_q_strides
from tests.fixtures.tiny import HBEHAVE_MODEL

torch.set_num_threads(1)

TINY = HBEHAVE_MODEL


def test_parse_q_strides():
    assert parse_q_strides("6,1,1;4,1,1") == [(6, 1, 1), (4, 1, 1)]
    with pytest.raises(ValueError):
        parse_q_strides("6,1;4,1,1")


def test_patching_and_pooling_shapes_every_level():
    m = build_model(ModelParams(**TINY))
    a = m.arch
    # tokens: (240/5, 1/1, 4/2) = (48, 1, 2); mask unit = (4*3, 1, 1*2) = (12, 1, 2); units = (4, 1, 1)
    assert a.tokens == (48, 1, 2) and a.mask_unit == (12, 1, 2) and a.units == (4, 1, 1) and a.n_units == 4
    assert a.level_grid == ((48, 1, 2), (12, 1, 2), (4, 1, 1))
    assert a.minutes_per_token == (5, 20, 60)
    assert a.dims == (8, 16, 32) and a.heads == (1, 2, 4)
    x = torch.randn(3, 1, 240, 1, 4)
    levels = m.encode(x)
    assert [tuple(z.shape) for z in levels] == [(3, 4, 12, 1, 2, 8), (3, 4, 3, 1, 2, 16), (3, 4, 1, 1, 1, 32)]
    emb = m.embed(x)
    assert [tuple(e.shape) for e in emb] == [(3, 48, 8), (3, 12, 16), (3, 4, 32)]
    loss, pred, mask = m(x, None, torch.Generator().manual_seed(0))
    assert pred.shape == (3, 4, a.unit_pixels) and a.unit_pixels == 12 * 5 * 1 * 2 * 2
    assert torch.isfinite(loss)


def test_unit_layout_roundtrip_and_pixels():
    m = build_model(ModelParams(**TINY))
    grid = torch.arange(48 * 1 * 2).float().reshape(1, 48, 1, 2, 1)
    units = m.to_units(grid)
    assert units.shape == (1, 4, 12, 1, 2, 1)
    # unit u holds tokens 12u..12u+11 along time
    assert units[0, 2, 0, 0, 0, 0] == grid[0, 24, 0, 0, 0]
    assert torch.equal(m.from_units(units), grid)
    x = torch.arange(240 * 4).float().reshape(1, 1, 240, 1, 4)
    px = m.pixels_per_unit(x)
    assert px.shape == (1, 4, 12 * 2, 5 * 2)
    # unit 1 covers minutes 60..119: all its pixels come from those minutes
    minutes = (px[0, 1] // 4).long()
    assert minutes.min() == 60 and minutes.max() == 119


def test_pooling_is_max_over_stride():
    x = torch.arange(2 * 1 * 6 * 1 * 2 * 1).float().reshape(2, 1, 6, 1, 2, 1)
    y = pool_units(x, (3, 1, 2))
    assert y.shape == (2, 1, 2, 1, 1, 1)
    assert y[0, 0, 0, 0, 0, 0] == x[0, 0, :3].max() and y[1, 0, 1, 0, 0, 0] == x[1, 0, 3:].max()


@pytest.mark.parametrize("ratio,units,kept", [(0.5, 4, 2), (0.75, 4, 1), (0.9, 4, 1), (0.0, 4, 4), (0.75, 12, 3)])
def test_masking_keeps_exact_number_of_units(ratio, units, kept):
    p = dict(TINY, mask_ratio=ratio)
    if units == 12:
        p.update(input_size=[720, 1, 4])
    m = build_model(ModelParams(**p))
    assert m.arch.n_units == units and m.arch.n_keep == kept
    keep, mask = m.random_keep(64, torch.Generator().manual_seed(1))
    assert keep.shape == (64, kept)
    assert (mask.sum(1) == units - kept).all()
    assert (torch.diff(keep, dim=1) > 0).all()  # sorted, distinct
    # encoder sees only the kept units
    x = torch.randn(64, 1, p["input_size"][0], 1, 4)
    assert m.encode(x, keep)[0].shape[1] == kept
    # loss only on masked units: changing a kept unit's pixels of the target cannot change it... check weights
    loss, pred, mask2 = m(x, None, torch.Generator().manual_seed(1))
    assert torch.equal(mask2, mask)


def test_loss_ignores_invalid_pixels_and_kept_units():
    m = build_model(ModelParams(**TINY))
    x = torch.randn(2, 1, 240, 1, 4)
    valid = torch.ones_like(x, dtype=torch.bool)
    l1, _, mask = m(x, valid, torch.Generator().manual_seed(3))
    masked_unit = int(torch.nonzero(mask[0])[0])
    # invalid pixels inside a masked unit: the encoder never sees them and the loss skips them
    x2, v2 = x.clone(), valid.clone()
    sl = slice(masked_unit * 60, masked_unit * 60 + 10)
    x2[0, 0, sl] = 1e3
    v2[0, 0, sl] = False
    l2, _, _ = m(x2, v2, torch.Generator().manual_seed(3))
    assert torch.isfinite(l2) and l2 < 100
    w = v2.clone()
    l3, pred, _ = m(x2, w, torch.Generator().manual_seed(3))
    # reference: masked-unit MSE over valid pixels only, computed by hand
    target = m.pixels_per_unit(x2).reshape(pred.shape)
    wt = m.pixels_per_unit(w.float()).reshape(pred.shape) * mask[:, :, None]
    ref = (((pred - target) ** 2) * wt).sum() / wt.sum()
    assert torch.allclose(l3, ref) and l3 < 100  # the 1e3 values do not count
    # same valid pixels, values changed only where invalid: identical loss
    x4 = x2.clone()
    x4[0, 0, sl] = -7.0
    l4, _, _ = m(x4, w, torch.Generator().manual_seed(3))
    assert torch.equal(l3, l4)
    # values of valid pixels in a kept unit do change the loss (they are the encoder's input)
    kept_unit = int(torch.nonzero(~mask[0])[0])
    x5 = x2.clone()
    x5[0, 0, kept_unit * 60 : kept_unit * 60 + 60] += 1.0
    l5, _, _ = m(x5, w, torch.Generator().manual_seed(3))
    assert not torch.equal(l3, l5)


def test_norm_pix_loss_targets():
    m = build_model(ModelParams(**dict(TINY, norm_pix_loss=True)))
    x = 100 + 5 * torch.randn(2, 1, 240, 1, 4)
    loss, _, _ = m(x, None, torch.Generator().manual_seed(0))
    assert loss < 10  # targets normalised per patch: no 100**2 scale


@pytest.mark.parametrize("decoder", ["single", "multi"])
def test_decoders_train_step(decoder):
    torch.manual_seed(0)
    m = build_model(ModelParams(**dict(TINY, decoder=decoder)))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    x = torch.sin(torch.linspace(0, 20, 240))[None, None, :, None, None].expand(4, 1, 240, 1, 4).contiguous()
    losses = []
    for step in range(30):
        loss, _, _ = m(x, None, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
    assert (len(m.fusion) == 2) == (decoder == "multi")


def test_divisibility_errors_are_clear():
    with pytest.raises(ParamsError, match="input_size T=1441 is not divisible by patch_kernel T=5"):
        build_architecture(ModelParams(**dict(TINY, input_size=[1441, 1, 4])))
    with pytest.raises(ParamsError, match="not divisible by the mask unit 12"):
        build_architecture(ModelParams(**dict(TINY, input_size=[250, 1, 4])))
    with pytest.raises(ParamsError, match="heads"):
        build_architecture(ModelParams(**dict(TINY, init_embed_dim=6, init_num_heads=4)))
    with pytest.raises(ValueError, match="q_strides"):
        ModelParams(**dict(TINY, q_strides="4,1,1"))


def test_dvc_4week_preset_builds_on_meta_and_reports_parameters():
    p = ModelParams(**VENTILATED_CAGE_4WEEK_PRESET)
    m = build_model(p, device="meta")
    a = m.arch
    assert a.tokens == (8064, 1, 1) and a.mask_unit == (1152, 1, 1) and a.n_units == 7
    assert a.level_grid[-1] == (7, 1, 1) and a.minutes_per_token == (5, 30, 120, 360, 1440, 2880, 5760)
    assert a.dims == (128, 160, 192, 192, 224, 224, 256)
    counts = count_parameters(m)
    # independent count of the encoder: patch embed + positions + blocks + final norm
    dims, depths = a.dims, a.depths
    enc = 128 * 60 + 128 + 8064 * 128 + 2 * 128
    prev = 128
    for d, n in zip(dims, depths):
        for i in range(n):
            din = prev if i == 0 else d
            blk = 2 * din + din * 3 * d + 3 * d + d * d + d + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
            if din != d:
                blk += din * d + d
            enc += blk
        prev = d
    enc += 2 * 256
    assert counts["encoder"] == enc
    assert counts["total"] > 50_000_000
    info = describe(m)
    assert info["flops_per_window"]["encoder_full"] > 1e10
    print(
        f"4-week preset: {counts['total']:,} parameters; encoder FLOPs per window {info['flops_per_window']['encoder_full']:,}"
    )


def test_embed_longer_windows_interpolates_positions():
    m = build_model(ModelParams(**TINY))
    m.eval()
    emb = m.embed(torch.randn(2, 1, 480, 1, 4))
    assert [tuple(e.shape) for e in emb] == [(2, 96, 8), (2, 24, 16), (2, 8, 32)]
    with pytest.raises(ParamsError, match="mask unit span"):
        m.check_window(250)
    assert math.prod(m.arch.mask_unit[:1]) * 5 == 60
