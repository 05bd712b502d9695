"""Regenerate the BehaveMAE parity reference in ``tests/hbehave/data/behavemae/`` (not run by the tests).

Runs the authors' own model code (amathislab/BehaveMAE, Apache-2.0; imported from the path given, never
copied here) in a scratch environment, outside this repository's venv:

    git clone https://github.com/amathislab/BehaveMAE /tmp/behavemae        # or any checkout
    python3.11 -m venv /tmp/bmae-venv
    /tmp/bmae-venv/bin/pip install torch timm numpy iopath psutil
    /tmp/bmae-venv/bin/python tests/hbehave/make_behavemae_reference.py /tmp/behavemae

For each tiny configuration in ``CONFIGS`` it

1. builds ``models_defs.hbehavemae`` with the arguments ``main_pretrain.py`` passes (``**vars(args)``),
   seeded; every parameter then gets seeded noise on top of the authors' initialisation (which leaves
   biases 0 and LayerNorms identity, so a mis-mapped bias or norm would otherwise go unseen);
2. saves it with the authors' ``util.misc.save_model`` (``{'model', 'optimizer', 'epoch', 'scaler',
   'args'}`` as ``checkpoint-00000.pth``), exactly as ``main_pretrain.py`` does after an epoch;
3. records the per-level encoder outputs for a fixed input: ``GeneralizedHiera.forward(x, mask=None,
   return_intermediates=True)``, the call ``main_test.py`` makes (each level is
   ``projections[l](reroll(blocks output at the stage end))``, shape ``(B, T_l, H_l, W_l, out_dim)``).
   Where the configuration uses the separate positional embedding (``main_test.py``'s default), it
   also loads the checkpoint into ``gen_hiera`` the way ``main_test.py``'s ``load_model`` does and
   checks it gives the same levels;
4. writes ``<name>.pth``, ``<name>_io.npz`` (``x``, ``level1..N``), ``<name>.json`` (the architecture
   arguments and provenance), and one ``stats.npy`` (z-score stats saved as the DVC training code
   saves them: ``np.save(path, {'mean': m, 'std': s})``).

timm: the authors' code imports ``DropPath`` and ``Mlp`` from ``timm.models.layers``. When timm cannot
be imported (timm >= 0.9 imports torchvision at package import; a torchvision wheel built for another
torch build fails there), the two classes are loaded from timm's own files (``timm/layers/drop.py``,
``timm/layers/mlp.py``) without running timm's package ``__init__``: the same timm code, no stand-in.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "behavemae"

#: tiny architectures (argument names and values as main_pretrain.py's command line takes them)
CONFIGS = {
    # main_pretrain.py defaults: one positional embedding per token (sep_pos_embed off), multi decoder
    "tiny_full_pos": dict(
        input_size=[48, 1, 4],
        patch_kernel=[2, 1, 2],
        stages=[1, 2, 2],
        q_strides="2,1,1;3,1,2",
        mask_unit_attn=[True, False, False],
        init_embed_dim=8,
        init_num_heads=1,
        out_embed_dims=[6, 10, 12],
        sep_pos_embed=False,
        decoding_strategy="multi",
        decoder_embed_dim=8,
        decoder_depth=1,
        decoder_num_heads=1,
        mask_ratio=0.75,
        norm_loss=False,
    ),
    # separate temporal/spatial positional embedding (main_test.py's default), single decoder, and
    # mask-unit attention switched back on in stage 3 (its pooling block keeps stage 2's global scope)
    "tiny_sep_pos": dict(
        input_size=[36, 1, 3],
        patch_kernel=[3, 1, 1],
        stages=[2, 1, 2],
        q_strides="2,1,1;2,1,3",
        mask_unit_attn=[True, False, True],
        init_embed_dim=4,
        init_num_heads=2,
        out_embed_dims=[5, 7, 9],
        sep_pos_embed=True,
        decoding_strategy="single",
        decoder_embed_dim=8,
        decoder_depth=1,
        decoder_num_heads=2,
        mask_ratio=0.5,
        norm_loss=True,
    ),
}
STATS = {"mean": np.float64(3.25), "std": np.float64(1.75)}
SEED = 13


def _timm_without_torchvision() -> str:
    """Make ``from timm.models.layers import DropPath, Mlp`` work; return how (for the provenance)."""
    try:
        import timm
        from timm.models.layers import DropPath, Mlp  # noqa: F401

        return f"timm {timm.__version__}"
    except Exception as exc:  # noqa: BLE001 - ImportError or torchvision's RuntimeError
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
    for name in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        del sys.modules[name]
    spec = importlib.util.find_spec("timm")
    root = Path(spec.origin).parent
    for name, path in (("timm", root), ("timm.layers", root / "layers"), ("timm.models", root / "models")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        sys.modules[name] = pkg
    drop = importlib.import_module("timm.layers.drop")
    mlp = importlib.import_module("timm.layers.mlp")
    shim = types.ModuleType("timm.models.layers")
    shim.DropPath, shim.Mlp = drop.DropPath, mlp.Mlp
    sys.modules["timm.models.layers"] = shim
    version = importlib.metadata.version("timm")
    return f"timm {version}: DropPath, Mlp loaded from timm/layers/drop.py, mlp.py (package import failed: {reason})"


def _args(cfg: dict, misc, out_dir: Path) -> argparse.Namespace:
    """The Namespace main_pretrain.py's parser gives for these arguments (architecture keys parsed alike)."""
    a = dict(cfg)
    a["q_strides"] = misc.parse_tuples(cfg["q_strides"])
    a.update(
        model="hbehavemae",
        non_hierarchical=False,
        masking_strategy="random",
        num_frames=cfg["input_size"][0],
        output_dir=str(out_dir),
        epochs=1,
        batch_size=2,
        fp32=True,
        distributed=False,
        seed=SEED,
        no_qkv_bias=False,
        bias_wd=False,
    )
    return argparse.Namespace(**a)


def _perturb(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("behavemae", type=Path, help="a checkout of amathislab/BehaveMAE")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--commit", default=None, help="the checkout's commit, when it has no .git (an exported tree)")
    a = ap.parse_args(argv)
    repo = a.behavemae.resolve()
    timm_note = _timm_without_torchvision()
    sys.path.insert(0, str(repo))
    from models.general_hiera import GeneralizedHiera
    from models.hiera_utils import undo_windowing
    from util import misc
    from util.pos_embed import interpolate_pos_embed

    from models import models_defs

    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # noqa: BLE001 - an exported tree has no git metadata
        commit = a.commit
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    for i, (name, cfg) in enumerate(CONFIGS.items()):
        work = a.out / f".work_{name}"
        work.mkdir(exist_ok=True)
        args = _args(cfg, misc, work)
        torch.manual_seed(SEED + i)
        model = models_defs.__dict__["hbehavemae"](**vars(args))
        _perturb(model, SEED + 100 + i)
        model.eval()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
        scaler = misc.NativeScalerWithGradNormCount(fp32=True)
        path = misc.save_model(
            args=args, epoch=0, model=model, model_without_ddp=model, optimizer=optimizer, loss_scaler=scaler
        )
        ckpt = a.out / f"{name}.pth"
        Path(path).replace(ckpt)
        work.rmdir()
        T, H, W = cfg["input_size"]
        x = torch.randn(2, 1, T, H, W, generator=torch.Generator().manual_seed(SEED + 200 + i))
        # main_test.py's load_model: gen_hiera with the checkpoint's arguments, load_state_dict(strict=False)
        # (gen_hiera's classifier norm/head are not in an hbehavemae checkpoint and are not used for levels)
        test_model = models_defs.__dict__["gen_hiera"](**vars(args)).eval()
        sd = torch.load(ckpt, map_location="cpu", weights_only=False)["model"]
        try:
            interpolate_pos_embed(test_model, sd)
            interp = "interpolate_pos_embed ran"
        except AttributeError as exc:  # main_test.py calls it first; it fails for a per-token pos_embed
            interp = f"main_test.py's interpolate_pos_embed raises AttributeError ({exc}); skipped"
        msg = test_model.load_state_dict(sd, strict=False)
        assert not [k for k in msg.missing_keys if not k.startswith(("norm.", "head."))], msg
        with torch.no_grad():
            _, levels = test_model(x, return_intermediates=True)
            # cross-check: the pretraining model's own encoder with every mask unit kept
            keep = torch.ones(x.shape[0], math.prod(model.mask_spatial_shape), dtype=torch.bool)
            _, kept = GeneralizedHiera.forward(model, x, mask=keep, return_intermediates=True)
        for lv, kv in zip(levels, kept):
            B, U = kv.shape[:2]
            grid = undo_windowing(kv.reshape(B, U, *kv.shape[2:]), list(lv.shape[1:-1]), list(kv.shape[2:-1]))
            assert torch.allclose(lv, grid, atol=1e-6), float((lv - grid).abs().max())
        how = (
            "main_test.py's path: gen_hiera(**vars(args)) + load_state_dict(strict=False), "
            "forward(x, return_intermediates=True); " + interp + "; equal (1e-6) to the hbehavemae model's "
            "GeneralizedHiera.forward with every mask unit kept, undo_windowing'd"
        )
        arrays = {"x": x.numpy()}
        arrays.update({f"level{j + 1}": lv.numpy() for j, lv in enumerate(levels)})
        np.savez_compressed(a.out / f"{name}_io.npz", **arrays)
        meta = {
            "architecture": cfg,
            "checkpoint": ckpt.name,
            "checkpoint_sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
            "level_shapes": [list(lv.shape) for lv in levels],
            "outputs": how,
            "behavemae_commit": commit,
            "torch": torch.__version__,
            "timm": timm_note,
            "seed": SEED + i,
            "generated_by": "tests/hbehave/make_behavemae_reference.py",
        }
        (a.out / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(name, ckpt.stat().st_size, "bytes", [tuple(lv.shape) for lv in levels])
    np.save(a.out / "stats.npy", STATS)  # as the DVC training code saves --stats_path: a pickled dict
    print("wrote", a.out)


if __name__ == "__main__":
    main()
