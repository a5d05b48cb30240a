"""Mutation checks of common/ with mutmut 3 (`make mutate`), and the table of what they found.

    python scripts/mutation_report.py                       # the table of what mutants/ holds now
    python scripts/mutation_report.py --run critical        # mutate the robustness-critical code, then the table
    python scripts/mutation_report.py --run rest --sample 300 --seed 0   # a random sample of the rest of common/
    python scripts/mutation_report.py --run again           # only the critical mutants not killed yet
    python scripts/mutation_report.py --survivors           # the surviving mutants' names (mutmut show NAME)

The critical scope is listed below (CRITICAL): the code whose failure loses or leaks work - atomic writes,
the run store, the fold guard, the ensembles, submission validation, credential redaction, checkpoint
resume. Every mutant there must be killed. mutmut reads its settings ([tool.mutmut]: which tests it may
run) from pyproject.toml and works in mutants/ (git-ignored); it cannot mutate decorated functions
(@contextmanager atomic_path, @property Folds.hash, the @_register metric functions): those are not listed.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "mutants"

# concern: mutant-name patterns (mutmut names a mutant <module>.x_<function>__mutmut_<n>, or
# <module>.xǁ<Class>ǁ<method>__mutmut_<n>)
CRITICAL = {
    "atomic writes": ["common.data.io.x_write_*", "common.data.io.x__remove_orphans__*"],
    "run store": ["common.runs.store.*"],
    "fold guard": ["common.runs.pipeline.x_current_runs__*", "common.data.folds.x_load_folds__*", "common.data.folds.x_save_folds__*"],
    "ensembles": ["common.ensemble.*"],
    "submission validation": [f"common.submissions.files.x_{name}__*" for name in (
        "check_frame", "_check_values", "_check_strings", "_check_labels", "_check_scale", "_id_tuples", "_is_int",
        "read_submission", "check_submission", "write_submission", "build_submission")],
    "credential redaction": ["common.submissions.upload.x__redact__*", "common.submissions.upload.x_run_kaggle__*",
                             "common.submissions.upload.xǁKaggleCLIErrorǁ*"],
    "checkpoint resume": ["common.models.torch.trainer.xǁTorchModelǁfit__*",
                          "common.models.torch.engine.x_save_checkpoint__*",
                          "common.models.torch.engine.x_load_checkpoint__*"],
}
# Survivors that no test can kill, each with the reason (checked by hand with `mutmut show NAME`). mutmut
# numbers a function's mutants afresh when that function changes: an entry then names another mutant,
# and the report says so (a listed mutant that is killed, or missing).
EQUIVALENT: dict[str, str] = {
    "common.ensemble.xǁTwoLevelStackingǁfit__mutmut_63":
        "WeightedBlend(seed=None): a WeightedBlend never reads its seed",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_23":
        "method=None: scipy picks SLSQP itself for a problem with bounds and constraints",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_40":
        "method='slsqp': scipy reads the method name case-insensitively",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_43":
        "bounds (0, 2): weights >= 0 summing to 1 are <= 1 anyway",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_32":
        "no maxiter (100): SLSQP converges in 10-26 iterations on 10-100 runs (measured)",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_55":
        "maxiter 201: SLSQP converges long before 200 iterations",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_47":
        "constraint type 'EQ': scipy reads it case-insensitively",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_58":
        "no clip at 0: SLSQP keeps its iterates inside the bounds",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_26":
        "options=None (maxiter 100): SLSQP converges long before",
    "common.ensemble.xǁWeightedBlendǁfit__mutmut_29":
        "no method: scipy picks SLSQP itself for bounds and constraints",
    "common.ensemble.xǁTwoLevelStackingǁfit__mutmut_27":
        "Stacking(None, ...): a Stacking never reads its metric",
    "common.ensemble.xǁTwoLevelStackingǁfit__mutmut_48":
        "Stacking(None, ...): a Stacking never reads its metric",
    "common.ensemble.xǁTwoLevelStackingǁfit__mutmut_66":
        "WeightedBlend without seed: a WeightedBlend never reads its seed",
    "common.ensemble.x__flat__mutmut_6":
        "reshape(n, -2): numpy takes any negative size as the one to infer",
    "common.data.io.x_write_csv__mutmut_3":
        "to_csv(index=None): pandas takes a falsy index flag as False",
    "common.data.io.x_write_npy__mutmut_10":
        "np.save(allow_pickle=None): refuses object arrays like False",
    "common.data.io.x_write_text__mutmut_3":
        "encoding=None: the locale's, UTF-8 on every machine the kit runs on (Python's C-locale coercion)",
    "common.data.io.x_write_text__mutmut_5":
        "no encoding: the locale's, UTF-8 (as above)",
    "common.data.io.x_write_text__mutmut_7":
        "'UTF-8' is 'utf-8'",
    "common.submissions.files.x__check_scale__mutmut_23":
        "values >= hi*10: for lo > 0, hi*10 > hi + span, so the band check flags them first",
    "common.submissions.files.x__check_scale__mutmut_25":
        "values > hi*11: as above, the upper tenfold test never decides",
    "common.submissions.files.x__check_scale__mutmut_55":
        "clip at 701: expm1(701) is finite too, and as far from any target's middle",
    "common.submissions.files.x__check_values__mutmut_35":
        "to_numpy(dtype=None): pd.to_numeric's result converts to float64 anyway",
    "common.submissions.files.x__check_values__mutmut_42":
        "to_numpy(dtype=None): as above (pandas 3 turns a nullable column's NA into NaN)",
    "common.submissions.files.x__check_values__mutmut_87":
        "to_numpy(dtype=None): as above",
    "common.submissions.files.x_read_submission__mutmut_24":
        "encoding=None: the locale's, UTF-8 (as for write_text)",
    "common.submissions.files.x_read_submission__mutmut_27":
        "no encoding: the locale's, UTF-8",
    "common.submissions.files.x_read_submission__mutmut_30":
        "'UTF-8' is 'utf-8'",
    "common.submissions.files.x_read_submission__mutmut_68":
        "no header=None: pandas reads no header when names are given",
    "common.submissions.files.x_write_submission__mutmut_12":
        "to_csv(index=None): as for write_csv",
    "common.submissions.upload.x__redact__mutmut_6":
        "default 'XXXX' for an unset variable: shorter than the 8 characters a credential must have",
}
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", -11: "crashed", -9: "crashed",
          None: "not run"}
COLUMNS = ("mutants", "killed", "timeout", "survived", "equivalent", "no tests", "other", "not run")


def concern(name: str) -> str | None:
    for label, patterns in CRITICAL.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return label
    return None


def results() -> dict[str, int | None]:
    """Every mutant's name and exit code, from mutmut's meta files."""
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def module_of(name: str) -> str:
    return re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]


def status(code: int | None, name: str = "") -> str:
    label = STATUS.get(code, "other")
    if label == "survived" and name in EQUIVALENT:
        return "equivalent"
    return label if label in COLUMNS else "other"


def table(codes: dict[str, int | None], scope: str) -> list[str]:
    rows: dict[str, Counter] = defaultdict(Counter)
    for name, code in codes.items():
        label = concern(name)
        if (label is not None) != (scope == "critical"):
            continue
        key = f"{label}: {module_of(name)}" if scope == "critical" else module_of(name)
        rows[key]["mutants"] += 1
        rows[key][status(code, name)] += 1
    total = sum(rows.values(), Counter())
    width = max([len(k) for k in rows] + [12])
    head = f"{'scope: ' + scope:<{width}}  " + "  ".join(f"{c:>8}" for c in COLUMNS) + "  kill rate"
    lines = [head, "-" * len(head)]
    for key, row in sorted(rows.items()) + [("total", total)]:
        tested = row["mutants"] - row["not run"]
        tested -= row["equivalent"]  # an equivalent mutant is no mutant: the code means the same
        rate = f"{100 * (row['killed'] + row['timeout']) / tested:8.1f}%" if tested else "        -"
        if key == "total":
            lines.append("-" * len(head))
        lines.append(f"{key:<{width}}  " + "  ".join(f"{row[c]:>8}" for c in COLUMNS) + f"  {rate}")
    return lines


def run_mutmut(names: list[str], jobs: int) -> int:
    """mutmut run on these names or patterns, in-process (a sample can be thousands of names: no argv limit)."""
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1", "MPLBACKEND": "Agg"}
    os.environ.update(env)  # one thread per worker: jobs x threads never oversubscribes the cores
    code = subprocess.call([sys.executable, "-c", "import sys; from mutmut.__main__ import _run; "
                            "_run(sys.argv[2:], int(sys.argv[1]))", str(jobs), *names], cwd=ROOT)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", choices=["critical", "again", "rest"],
                        help="run mutmut first: on the critical scope, its mutants not killed yet, or the rest")
    parser.add_argument("--only", help="with --run critical/again: only the mutants matching this pattern "
                        "(e.g. 'common.ensemble.*')")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants tested at once")
    parser.add_argument("--sample", type=int, default=0, help="with --run rest: test this many random mutants")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed")
    parser.add_argument("--survivors", action="store_true", help="list the surviving critical mutants and exit")
    args = parser.parse_args(argv)

    if args.run == "critical":
        patterns = [args.only] if args.only else [p for patterns in CRITICAL.values() for p in patterns]
        run_mutmut(patterns, args.jobs)
    elif args.run == "again":
        left = sorted(n for n, c in results().items()
                      if concern(n) and status(c, n) not in ("killed", "timeout", "equivalent")
                      and fnmatch.fnmatchcase(n, args.only or "*"))
        if left:
            run_mutmut(left, args.jobs)
    elif args.run == "rest":
        codes = results()
        if not codes:
            print("mutants/ holds no mutants yet: run `make mutate` (the critical scope) first.", file=sys.stderr)
            return 2
        rest = sorted(name for name in codes if concern(name) is None)
        if args.sample:
            rest = sorted(random.Random(args.seed).sample(rest, min(args.sample, len(rest))))
        run_mutmut(rest, args.jobs)

    codes = results()
    if not codes:
        print("no mutation results in mutants/: run `make mutate` first.", file=sys.stderr)
        return 2
    if args.survivors:
        for name, code in sorted(codes.items()):
            if concern(name) and status(code, name) in ("survived", "no tests", "other"):
                print(name)
        return 0
    print("\n".join(table(codes, "critical")))
    print()
    print("\n".join(table(codes, "rest")))
    done = ("killed", "timeout", "equivalent")
    critical_left = [n for n, c in codes.items() if concern(n) and status(c, n) not in done]
    stale = sorted(n for n in EQUIVALENT if n not in codes or status(codes[n], n) in ("killed", "timeout"))
    if stale:
        print(f"\nEQUIVALENT names {len(stale)} mutant(s) that are killed or gone (the code changed): "
              + ", ".join(stale) + ". Check them again with `mutmut show NAME`.")
    print(f"\ncritical mutants not killed: {len(critical_left)}" + (" (list them with --survivors; "
          "`mutmut show NAME` shows one)" if critical_left else ""))
    return 1 if args.run in ("critical", "again") and critical_left else 0


if __name__ == "__main__":
    sys.exit(main())
