"""Benchmark: Tmall stage 03 as a user runs it, on a log sorted by user, grouped by user (the real order) and shuffled.

For each size it generates the four raw files once (common.data.datasets.tmall: grouped by user, the users
in no order, as the real user_log_format1.csv), and writes the same log sorted by user and fully
shuffled beside it. Then, per order and round:

  1. a fresh contest folder: competitions/tmall_repeat_buyer copied, the raw files in data/raw;
  2. `python stages/01_understanding.py` in it, as a user starts;
  3. the bare polars scan of the same CSV (the `scan` phase of benchmarks/tmall_features.py: every column
     parsed with the compact schema, nothing else), in its own process;
  4. a cold `python stages/03_features.py`: folds, log conversion and checks, features, caches - the whole
     process, interpreter start included, its wall time and peak memory (max RSS) measured.

The CSV is read once before steps 3 and 4, so both start with it in the page cache. Rounds go over
every order (a slow spell of this shared VM then falls on all of them); each time is the fastest of
its rounds, the peak the highest, and the ratio the median of the rounds' own ratios (stage 03 over
the scan run just before it: two minima from different rounds would compare different loads). cpu is
user + system seconds of the process, which other jobs on the machine disturb less than wall time. Run:

    python benchmarks/tmall_stage03.py --sizes 5M full --out /tmp/tmall_stage03
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tmall_features import generate, parse_size, run_phase, warm  # noqa: E402  (the same data and bare scan)

REPO = Path(__file__).resolve().parents[1]
CONTEST = REPO / "competitions" / "tmall_repeat_buyer"
LOG, FILES = "user_log_format1.csv", ("train_format1.csv", "test_format1.csv", "user_info_format1.csv")
ORDERS = ("sorted", "grouped", "shuffled")
TARGET = 3.0  # stage 03 <= 3x the bare scan at full size, whatever the order

# Rewrites the log in another row order; time_stamp (0511) and brand_id (7069.0, empty) stay text, so every
# line is written back exactly as it was.
_REORDER = r'''
import polars as pl, sys
src, dst, order = sys.argv[1:4]
log = pl.read_csv(src, schema_overrides={"time_stamp": pl.Utf8, "brand_id": pl.Utf8})
log = log.sort("user_id", maintain_order=True) if order == "sorted" else log.sample(fraction=1.0, shuffle=True, seed=0)
log.write_csv(dst)
'''
# Runs a command and reports its wall time and peak RSS: a fresh process, so RUSAGE_CHILDREN is that command's alone.
_TIMED = r'''
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[2:], cwd=sys.argv[1], capture_output=True, text=True)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "peak_gb": usage.ru_maxrss / 1e6,
                  "rc": done.returncode, "out": done.stdout[-3000:] + done.stderr[-3000:]}))
'''


def prepare(folder: Path, rows: int, full: bool) -> dict[str, Path]:
    """The raw files per order: `grouped` as generated, `sorted` and `shuffled` written from it (kept for reuse)."""
    dirs = {order: folder / order for order in ORDERS}
    if not (dirs["grouped"] / LOG).is_file():
        print(f"generating {rows:,} log rows in {dirs['grouped']} ...", flush=True)
        print(f"generated in {generate(dirs['grouped'], rows, full):.1f}s", flush=True)
    for order in ("sorted", "shuffled"):
        if not (dirs[order] / LOG).is_file():
            dirs[order].mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            tmp = dirs[order] / f".{LOG}.tmp"
            subprocess.run([sys.executable, "-c", _REORDER, str(dirs["grouped"] / LOG), str(tmp), order], check=True)
            tmp.rename(dirs[order] / LOG)
            print(f"wrote the {order} log in {time.perf_counter() - start:.1f}s", flush=True)
        for name in FILES:
            if not (dirs[order] / name).is_file():
                shutil.copy(dirs["grouped"] / name, dirs[order] / name)
    return dirs


def fresh_contest(dest: Path, raw: Path) -> Path:
    """competitions/tmall_repeat_buyer as a user copies it (no data, caches or outputs), raw files linked in."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(CONTEST, dest, ignore=shutil.ignore_patterns("data", "cache", "folds", "runs", "reports", "submissions"))
    (dest / "data" / "raw").mkdir(parents=True)
    for name in (LOG, *FILES):
        try:
            os.link(raw / name, dest / "data" / "raw" / name)  # a hard link: 2 GB not copied per round
        except OSError:
            shutil.copy(raw / name, dest / "data" / "raw" / name)
    return dest


def timed(root: Path, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _TIMED, str(root), *args], capture_output=True, text=True, check=True)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    if out["rc"] != 0:
        raise SystemExit(f"`{' '.join(args)}` in {root} failed (exit {out['rc']}):\n{out['out']}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["5M", "full"], help="log sizes: 1M, 5M, 500K, full (54.9 M)")
    parser.add_argument("--orders", nargs="+", default=list(ORDERS), choices=ORDERS)
    parser.add_argument("--out", type=Path, default=Path("/tmp/tmall_stage03"), help="scratch folder (generated files, contests)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest of each is reported")
    parser.add_argument("--keep", action="store_true", help="keep the generated files (reused by a later run)")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; target: stage 03 <= {TARGET:g}x the bare scan at full size", flush=True)
    table = []
    for text in args.sizes:
        label, rows = parse_size(text)
        dirs = prepare(args.out / f"log_{label}", rows, label == "full")
        runs: dict[str, dict[str, list[dict]]] = {o: {"scan": [], "stage01": [], "stage03": []} for o in args.orders}
        for round_no in range(1, args.repeat + 1):
            for order in args.orders:
                root = fresh_contest(args.out / f"contest_{label}_{order}", dirs[order])
                runs[order]["stage01"].append(timed(root, sys.executable, "stages/01_understanding.py"))
                warm(dirs[order] / LOG)
                runs[order]["scan"].append(run_phase("scan", dirs[order], args.out / "scan_cache"))
                warm(root / "data" / "raw" / LOG)
                stage = timed(root, sys.executable, "stages/03_features.py")
                runs[order]["stage03"].append(stage)
                scan = runs[order]["scan"][-1]["seconds"]
                print(f"[{label}] round {round_no} {order:<8}: scan {scan:.2f}s (cpu {runs[order]['scan'][-1]['cpu']:.1f}s), "
                      f"stage 03 {stage['seconds']:.2f}s (cpu {stage['cpu']:.1f}s), {stage['seconds'] / scan:.2f}x, "
                      f"peak {stage['peak_gb']:.2f} GB", flush=True)
        for order in args.orders:
            best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs[order].items()}
            ratios = sorted(a["seconds"] / b["seconds"] for a, b in zip(runs[order]["stage03"], runs[order]["scan"]))
            table.append({"size": label, "order": order, "rows": warm(dirs[order] / LOG) - 1,
                          "ratio": statistics.median(ratios), "ratios": f"{ratios[0]:.2f}-{ratios[-1]:.2f}",
                          "scan": best["scan"]["seconds"], "scan_cpu": best["scan"]["cpu"],
                          "stage01": best["stage01"]["seconds"], "stage03": best["stage03"]["seconds"],
                          "stage03_cpu": best["stage03"]["cpu"], "peak": max(r["peak_gb"] for r in runs[order]["stage03"])})
        shutil.rmtree(args.out / "scan_cache", ignore_errors=True)
        for order in args.orders:
            shutil.rmtree(args.out / f"contest_{label}_{order}", ignore_errors=True)
        if not args.keep:
            shutil.rmtree(args.out / f"log_{label}", ignore_errors=True)
    print("\n| log | order | rows | bare scan s | stage 03 s (cold) | stage 03 / scan (rounds) | peak GB "
          "| scan cpu s | stage 03 cpu s | stage 01 s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in table:
        print(f"| {r['size']} | {r['order']} | {r['rows']:,} | {r['scan']:.2f} | {r['stage03']:.2f} | "
              f"{r['ratio']:.2f}x ({r['ratios']}) | {r['peak']:.2f} | {r['scan_cpu']:.1f} | {r['stage03_cpu']:.1f} | "
              f"{r['stage01']:.2f} |")
    full = [r for r in table if r["size"] == "full"]
    if full:
        print("\n" + "; ".join(f"[full, {r['order']}] <= {TARGET:g}x the bare scan: "
                               f"{'met' if r['ratio'] <= TARGET else 'MISSED'}" for r in full))
    print(f"\nreproduce: python benchmarks/tmall_stage03.py --sizes {' '.join(args.sizes)} --repeat {args.repeat} "
          f"--out {args.out}" + (" --keep" if args.keep else ""))


if __name__ == "__main__":
    main()
