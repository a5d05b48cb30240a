"""Benchmark: Tmall log features with polars against the bare CSV scan and a pandas implementation.

For each log size it generates the four raw files (common.data.datasets.tmall), then runs each phase in
its own Python process so that peak memory (the child's max RSS) and time do not leak between
phases:

  scan    the bare polars CSV scan: every column parsed with the compact schema, nothing else;
  polars  the full feature build from a cold cache: digest, CSV -> checked Arrow IPC cache, all aggregates,
          and the caches written (the background writes are waited for inside the timing);
  rebuild the same build when the log is already cached (a second run after a feature change);
  direct  the same aggregates straight from the CSV with polars: no digest, checks or caches,
          i.e. exactly the work of `pandas`;
  pandas_build  the build step for step in pandas (build_pair_features_pandas): the same digest, checks,
          caches and features; the like-for-like baseline of `polars`;
  pandas  the features alone with pandas (pair_features_pandas): no checks, no caches.
The pandas phases run where the log fits in memory.

Seconds are the phase itself (after imports); cpu is user + system time of the child. The phases
run in --repeat rounds (every phase once per round, so a slow spell of this shared VM does not fall
on one phase only) and each phase's fastest run is reported (as timeit does: slower runs measure the
machine's other load); peak memory is the highest of the runs. Before every run the CSV is read once,
untimed, so each phase starts with the file in the page cache, as it is right after a download. Run:

    python benchmarks/tmall_features.py --sizes 1M 5M full --out /tmp/tmall_bench
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FEATURES = REPO / "competitions" / "tmall_repeat_buyer" / "features.py"
FULL_ROWS, FULL_USERS = 54_925_330, 424_170
PHASES = ("scan", "polars", "rebuild", "direct", "pandas_build", "pandas")
TARGETS = "targets: full build <= 180 s, <= 6 GB, <= 3x the bare scan; polars >= 5x faster than pandas at 5 M rows"

_CHILD = r'''
import json, resource, sys, time, importlib.util
sys.path.insert(0, {repo!r})
import polars as pl
spec = importlib.util.spec_from_file_location("tmall_features_bench", {features!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
d, phase, cache = {data!r}, {phase!r}, {cache!r}
pairs = pl.concat([pl.read_csv(f"{{d}}/{{f}}", columns=["user_id", "merchant_id"]) for f in ("train_format1.csv", "test_format1.csv")])
r0 = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
if phase == "scan":
    out = pl.scan_csv(f"{{d}}/user_log_format1.csv", schema=dict(m.LOG_SCHEMA.columns)).select(pl.all().null_count()).collect()
elif phase in ("polars", "rebuild"):
    out = m.build_pair_features(f"{{d}}/user_log_format1.csv", f"{{d}}/user_info_format1.csv", pairs, cache, log=lambda _: None)
    from common.data.logs import wait_for_writes
    wait_for_writes()  # the caches are part of the build
elif phase == "direct":
    from common.data.logs import _scan, grouped
    log = _scan(f"{{d}}/user_log_format1.csv", m.LOG_SCHEMA).collect()
    info = _scan(f"{{d}}/user_info_format1.csv", m.INFO_SCHEMA)
    out = m.pair_features_polars(grouped(log, "user_id"), info, pairs.lazy())
elif phase == "pandas_build":
    out = m.build_pair_features_pandas(f"{{d}}/user_log_format1.csv", f"{{d}}/user_info_format1.csv", pairs.to_pandas(), cache)
else:
    out = m.pair_features_pandas(f"{{d}}/user_log_format1.csv", f"{{d}}/user_info_format1.csv", pairs.to_pandas())
seconds = time.perf_counter() - start
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": seconds, "cpu": r.ru_utime + r.ru_stime - r0.ru_utime - r0.ru_stime, "peak_gb": r.ru_maxrss / 1e6, "shape": list(out.shape)}}))
'''


def parse_size(text: str) -> tuple[str, int]:
    if text.lower() == "full":
        return "full", FULL_ROWS
    value = float(text.rstrip("MmKk")) * (1e6 if text[-1] in "Mm" else 1e3 if text[-1] in "Kk" else 1)
    return text, int(value)


def run_phase(phase: str, data: Path, cache: Path) -> dict:
    code = _CHILD.format(repo=str(REPO), features=str(FEATURES), data=str(data), phase=phase, cache=str(cache))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"phase {phase} on {data} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def generate(data: Path, rows: int, full: bool) -> float:
    """Generate in a child process too: Linux keeps a parent's peak RSS across fork+exec, so a parent
    that held the generated arrays would inflate every later phase's measured peak."""
    users = 0 if full else max(200, round(rows * FULL_USERS / FULL_ROWS))
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from common.data.datasets.tmall import make_tmall; "
            f"make_tmall({str(data)!r}, n_users={users}, n_rows={rows}, seed=0)")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def warm(path: Path) -> int:
    """Read the file once (into the page cache); its line count."""
    with open(path, "rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1M", "5M", "full"], help="log sizes: 1M, 5M, 500K, full (54.9 M)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/tmall_bench"), help="scratch folder for the generated files")
    parser.add_argument("--pandas-max-rows", type=float, default=10e6,
                        help="run pandas only up to this many rows (it needs ~10x the memory and minutes at full size)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase; the fastest is reported")
    parser.add_argument("--keep", action="store_true", help="keep the generated files (reused by a later run)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; " + TARGETS, flush=True)
    rows_out = []
    for text in args.sizes:
        label, rows = parse_size(text)
        data = args.out / f"log_{label}"
        if not (data / "user_log_format1.csv").is_file():
            print(f"[{label}] generating {rows:,} log rows in {data} ...", flush=True)
            print(f"[{label}] generated in {generate(data, rows, label == 'full'):.1f}s", flush=True)
        n_lines = warm(data / "user_log_format1.csv") - 1
        row = {"size": label, "log_rows": n_lines, "csv_gb": (data / "user_log_format1.csv").stat().st_size / 1e9}
        cache = args.out / f"cache_{label}"
        phases = [p for p in PHASES if not p.startswith("pandas") or n_lines <= args.pandas_max_rows]
        runs: dict[str, list[dict]] = {p: [] for p in phases}
        for round_no in range(1, args.repeat + 1):  # rounds, not blocks: a drift in the machine's speed hits every phase alike
            for phase in phases:
                if phase == "rebuild":  # keep the log the cold build just converted, drop the cached features
                    for old in cache.glob("pair_features-*.parquet"):
                        old.unlink()
                else:
                    shutil.rmtree(cache, ignore_errors=True)  # cold: conversion and aggregation both measured
                warm(data / "user_log_format1.csv")
                runs[phase].append(run_phase(phase, data, cache))
            print(f"[{label}] round {round_no}: " + ", ".join(f"{p} {runs[p][-1]['seconds']:.2f}s" for p in phases), flush=True)
        for phase in phases:
            res = min(runs[phase], key=lambda r: r["seconds"])
            row[f"{phase}_s"], row[f"{phase}_cpu"] = res["seconds"], res["cpu"]
            row[f"{phase}_gb"] = max(r["peak_gb"] for r in runs[phase])
            print(f"[{label}] {phase:<12} {res['seconds']:7.2f}s  cpu {res['cpu']:6.2f}s  peak {row[f'{phase}_gb']:.2f} GB", flush=True)
        for baseline in ("pandas_build", "pandas"):  # the same ratio within each round, to show its spread
            if baseline in runs:
                ratios = [b["seconds"] / a["seconds"] for a, b in zip(runs["polars"], runs[baseline])]
                print(f"[{label}] {baseline} / build, round by round: " + ", ".join(f"{x:.1f}x" for x in ratios), flush=True)
        shutil.rmtree(cache, ignore_errors=True)
        rows_out.append(row)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    sec = lambda x: f"{x:.2f}" if x < 10 else f"{x:.1f}"  # noqa: E731
    print("\n| log | rows | CSV GB | scan s | build s (cold) | peak GB | build / scan | rebuild s | direct s "
          "| pandas build s | pandas build peak GB | pandas build / build "
          "| pandas features s | pandas features peak GB | pandas features / build | pandas features / direct |")
    print("| --- |" + " ---: |" * 15)
    for r in rows_out:
        pandas = (f"{sec(r['pandas_build_s'])} | {r['pandas_build_gb']:.2f} | {r['pandas_build_s'] / r['polars_s']:.1f}x | "
                  f"{sec(r['pandas_s'])} | {r['pandas_gb']:.2f} | {r['pandas_s'] / r['polars_s']:.1f}x | "
                  f"{r['pandas_s'] / r['direct_s']:.1f}x" if "pandas_s" in r else " | ".join(["-"] * 7))
        print(f"| {r['size']} | {r['log_rows']:,} | {r['csv_gb']:.2f} | {sec(r['scan_s'])} | {sec(r['polars_s'])} | "
              f"{r['polars_gb']:.2f} | {r['polars_s'] / r['scan_s']:.2f}x | {sec(r['rebuild_s'])} | {sec(r['direct_s'])} | {pandas} |")
    print()
    for r in rows_out:
        checks = []
        if r["size"] == "full":
            checks += [("full build <= 180 s", r["polars_s"] <= 180), ("peak <= 6 GB", r["polars_gb"] <= 6),
                       ("<= 3x the bare scan", r["polars_s"] <= 3 * r["scan_s"])]
        if "pandas_s" in r and 4.5e6 <= r["log_rows"] <= 5.5e6:  # the target is stated at 5 M rows
            checks += [("build >= 5x faster than the pandas build (the same work)", r["pandas_build_s"] >= 5 * r["polars_s"]),
                       ("build >= 5x faster than the pandas features alone (no checks, no caches)", r["pandas_s"] >= 5 * r["polars_s"])]
        if checks:
            print(f"[{r['size']}] " + "; ".join(f"{text}: {'met' if ok else 'MISSED'}" for text, ok in checks))
    print(f"\nreproduce: python benchmarks/tmall_features.py --sizes {' '.join(args.sizes)} --repeat {args.repeat} --out {args.out}")


if __name__ == "__main__":
    main()
