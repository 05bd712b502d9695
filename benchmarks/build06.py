"""Benchmark: build06 end to end on a df02 of 1,000,000 snips with 64 latent dims.

Generates (untimed, cached in --workdir) a df02 Parquet in the vae_snips layout and the latent store
(``morph_latents_{exp}.csv`` per experiment with its Parquet twin, as vae_embed writes them), then runs
``ethoflow.build06.build_df03_with_embeddings`` in a fresh child process (read df02 + latents, stem normalisation,
finite and duplicate checks, left join, coverage, df03 Parquet) and prints its wall time and peak
memory (max RSS of the child). ``--csv`` also writes df03.csv (not part of the target).

    PYTHONPATH=src python benchmarks/build06.py                 # 1e6 snips, 64 dims
    PYTHONPATH=src python benchmarks/build06.py --csv-latents   # external store: CSVs only
    PYTHONPATH=src python benchmarks/build06.py --rows 100000   # quicker

Target (2-core machine): under 10 s and 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ethoflow.vae.latent_store import write_latent_csv


def generate(work: Path, rows: int, dims: int, n_exp: int, seed: int = 0) -> None:
    stamp = work / "inputs.ok"
    if stamp.exists():
        return
    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    exp_of = np.repeat(np.arange(n_exp), -(-rows // n_exp))[:rows]
    per_cage = 1440
    idx = np.arange(rows)
    cage = idx // per_cage
    t = idx % per_cage
    exps = np.array([f"2024{m:02d}01" for m in range(1, n_exp + 1)])
    exp_s = exps[exp_of]
    snip = pc.binary_join_element_wise(
        pa.array(exp_s), pa.array([f"cage{c:05d}" for c in cage]), pa.array([f"t{x:04d}" for x in t]), "_"
    )
    start = np.datetime64("2024-01-01T00:00", "ms") + (t * 60_000).astype("timedelta64[ms]")
    df02 = pa.table(
        {
            "experiment_date": exp_s,
            "cage_id": [f"cage{c:05d}" for c in cage],
            "snip_id": snip,
            "time_int": t,
            "start_minute": t * 60,
            "start_time": start,
            "end_time": start + np.timedelta64(3_600_000, "ms"),
            "is_night": (t % 24) < 7,
            "strain": np.where(cage % 2 == 0, "C57BL/6J", "BALB/cJ"),
            "age": (cage % 10 + 8).astype(float),
            "frac_valid": rng.random(rows),
            "frac_zero": rng.random(rows),
            "use_snip_flag": rng.random(rows) > 0.05,
        }
    )
    pq.write_table(df02, work / "df02.parquet")
    lat = work / "latents" / "bench"
    lat.mkdir(parents=True, exist_ok=True)
    for e, name in enumerate(exps):
        sel = np.flatnonzero(exp_of == e)
        cols = {"snip_id": snip.take(pa.array(sel[::-1]))}  # latent rows in another order than df02
        z = rng.standard_normal((len(sel), dims), dtype=np.float32)
        for d in range(dims):
            cols[f"z_mu_{d:02d}"] = pa.array(z[::-1, d])
        buf = pa.BufferOutputStream()
        pacsv.write_csv(pa.table(cols), buf, write_options=pacsv.WriteOptions(quoting_style="none"))
        # CSV + Parquet twin, as vae_embed writes them
        write_latent_csv(buf.getvalue().to_pybytes().decode(), lat / f"morph_latents_{name}.csv")
    stamp.write_text("ok")


CHILD = r"""
import json, os, sys, time, resource
from pathlib import Path
work, csv, twins = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
hidden = Path(work) / "latents" / "hidden_twins"
for p in sorted((Path(work) / "latents" / "bench").glob("*.parquet")) if not twins else []:
    hidden.mkdir(exist_ok=True); os.replace(p, hidden / p.name)   # CSV-only store (external layout)
t0 = time.perf_counter()
from ethoflow.build06 import Build06Params, Df03Paths, build_df03_with_embeddings
t1 = time.perf_counter()
res = build_df03_with_embeddings(Build06Params(), df02=f"{work}/df02.parquet", latents_dir=f"{work}/latents/bench",
                                 model_name="bench", out=Df03Paths.beside(f"{work}/out/df03.parquet", csv=csv),
                                 overwrite=True)
t2 = time.perf_counter()
for p in sorted(hidden.glob("*.parquet")) if hidden.exists() else []:
    os.replace(p, Path(work) / "latents" / "bench" / p.name)
print(json.dumps({"import_s": t1 - t0, "merge_s": t2 - t1, "rows": res.n_rows, "z": len(res.z_columns),
                  "coverage": res.coverage["overall"]["coverage"],
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
                  "load": os.getloadavg()[0]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dims", type=int, default=64)
    ap.add_argument("--experiments", type=int, default=10)
    ap.add_argument("--workdir", default=".ethoflow/bench/build06")
    ap.add_argument("--csv", action="store_true", help="also write df03.csv")
    ap.add_argument(
        "--csv-latents",
        action="store_true",
        help="latent store without Parquet twins (external morphseq layout): parse the CSVs",
    )
    args = ap.parse_args()
    work = Path(args.workdir).resolve() / f"{args.rows}x{args.dims}x{args.experiments}"
    t = time.perf_counter()
    generate(work, args.rows, args.dims, args.experiments)
    print(
        f"inputs ready in {time.perf_counter() - t:.1f} s: {work} "
        f"(df02 {os.path.getsize(work / 'df02.parquet') / 1e6:.0f} MB, latents "
        f"{sum(p.stat().st_size for p in (work / 'latents' / 'bench').glob('*.csv')) / 1e6:.0f} MB CSV)"
    )
    env = {**os.environ, "ETHOFLOW_PROGRESS": "0"}
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(work), "1" if args.csv else "0", "0" if args.csv_latents else "1"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t
    if out.returncode:
        sys.exit(out.stderr)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    kind = "CSV only (parsed)" if args.csv_latents else "CSV + Parquet twins (as vae_embed writes)"
    print(
        f"build06: {r['rows']:,} snips x {r['z']} latent dims, latent store {kind}, coverage {100 * r['coverage']:.1f}%"
    )
    print(f"  merge (read, check, join, write Parquet{' + CSV' if args.csv else ''}): {r['merge_s']:.2f} s")
    print(f"  process wall incl. Python start and imports: {wall:.2f} s")
    print(f"  peak memory (max RSS): {r['maxrss_mb']:.0f} MB")
    print(
        f"  CPU time of the child (user+sys, all threads): {r['cpu_s']:.2f} s; "
        f"1-min load average at the end: {r['load']:.1f} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
