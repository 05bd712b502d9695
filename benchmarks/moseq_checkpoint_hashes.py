"""Per-dataset sha256 of a keypoint-moseq checkpoint, to find which arrays differ between two machines.

The AR-HMM stage's checkpoint (``models/moseq/arhmm/arhmm/checkpoint.h5``) is byte-identical between runs
on one machine; between an AMD EPYC and an Intel Xeon it differs (docs/decisions.md, "Portable numbers
across CPU vendors"). ``--write`` records one machine's hashes as JSON; ``--compare`` lists the datasets
whose bytes differ from such a record (numeric datasets hashed by their raw bytes, string/object
datasets by their text).

    python benchmarks/moseq_checkpoint_hashes.py models/moseq/arhmm/arhmm/checkpoint.h5 \\
        --compare benchmarks/reference/moseq_arhmm_amd_epyc.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def dataset_hashes(path: Path) -> dict[str, str]:
    """``{dataset name: sha256 hex (16 chars)}`` of every dataset in the HDF5 file ``path``."""
    import h5py
    import numpy as np

    out: dict[str, str] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            a = np.asarray(obj[()])
            raw = repr(a.tolist()).encode() if a.dtype.kind in "OSU" else np.ascontiguousarray(a).tobytes()
            out[name] = hashlib.sha256(raw + str(a.dtype).encode() + str(a.shape).encode()).hexdigest()[:16]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--write", type=Path, help="write the hashes to this JSON file")
    ap.add_argument("--compare", type=Path, help="a JSON file written by --write on another machine")
    ap.add_argument("--machine", default="", help="a description stored with --write")
    args = ap.parse_args()
    hashes = dataset_hashes(args.checkpoint)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(
            json.dumps({"machine": args.machine, "datasets": hashes}, indent=1, sort_keys=True) + "\n"
        )
    if args.compare:
        ref = json.loads(args.compare.read_text())
        other = ref["datasets"]
        diff = sorted(k for k in set(hashes) | set(other) if hashes.get(k) != other.get(k))
        print(
            f"{len(hashes)} datasets here, {len(other)} in {args.compare} ({ref.get('machine', '')}); {len(diff)} differ"
        )
        for k in diff:
            print(f"  {k}: {hashes.get(k)} here, {other.get(k)} there")
    if not args.write and not args.compare:
        print(json.dumps(hashes, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
