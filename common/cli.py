"""Command line: `compkit run|demo|generate|runs|list|submit|leaderboard|submissions|export`, and the stage wrapper."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from common.errors import KitError

REPO = Path(__file__).resolve().parents[1]


def run_stage(main: Callable, script: str, doc: str | None = None, options: list[tuple[str, dict]] | None = None) -> None:
    """Parse a stage script's arguments, load its contest, call `main(contest, args)` (a common.stages
    module's, or the script's own); `doc` and `options` default to that stage's.

    A KitError (bad config, bad data, refused blend) ends the stage with its message and exit code 2
    instead of a traceback; outputs of earlier stages are untouched.
    """
    from common.contest import Contest

    doc = doc or main.__doc__
    if options is None:  # a stage module's OPTIONS, or the script's own when its main was copied there
        options = getattr(sys.modules.get(main.__module__), "OPTIONS", [])
    parser = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    parser.add_argument("--contest", type=Path, default=Path(script).resolve().parents[1],
                        help="contest folder (default: the folder this script belongs to)")
    for flag, kwargs in options:
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args()
    try:
        main(Contest.load(args.contest), args)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> None:
    from common.runs.pipeline import STAGES, run_stages

    parser = argparse.ArgumentParser(prog="compkit", description="Competition kit: run contests built from the template.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a contest's stages in order")
    run.add_argument("contest", nargs="?", type=Path, default=Path.cwd())
    run.add_argument("--from", dest="start", default="01", help="first stage number (default 01)")
    run.add_argument("--to", dest="stop", default="07", help="last stage number (default 07)")
    run.add_argument("--skip", nargs="*", default=[], help="stage numbers to skip, e.g. --skip 06")
    run.add_argument("--config", help="another config file of the contest folder to run with, e.g. config.gpu.yaml "
                     "(sets $COMPKIT_CONFIG for the stages)")
    demo = sub.add_parser("demo", help="the steam contest end to end on generated data")
    demo.add_argument("--contest", type=Path, default=REPO / "competitions" / "steam")
    gen = sub.add_parser("generate", help="write a synthetic data set with a contest's schema")
    gen.add_argument("name")
    gen.add_argument("out", type=Path)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                     help="generator parameters, e.g. --set n_users=0 n_rows=54925330 (values read as YAML)")
    runs = sub.add_parser("runs", help="list a contest's runs: current (features, target, folds) or of another key")
    runs.add_argument("contest", nargs="?", type=Path, default=Path.cwd())
    runs.add_argument("--prune", action="store_true", help="delete the runs of another key")
    lst = sub.add_parser("list", help="list registered models, metrics, features, ensemblers")
    lst.add_argument("pattern", nargs="?", default="*")
    sbm = sub.add_parser("submit", help="validate a submission, then upload it (Kaggle) or package it (Tianchi)")
    sbm.add_argument("contest", nargs="?", type=Path, default=Path.cwd())
    sbm.add_argument("--file", type=Path, help="file to submit (default: submissions/<submission.file_name>)")
    sbm.add_argument("--message", "-m", help="your note; strategy, CV score and run ids are appended")
    sbm.add_argument("--dry-run", action="store_true", help="validate, show what would happen; upload and log nothing")
    lb = sub.add_parser("leaderboard", help="fetch public scores of past Kaggle submissions into the log, then "
                                            "show CV against leaderboard")
    lb.add_argument("contest", nargs="?", type=Path, default=Path.cwd())
    subs = sub.add_parser("submissions", help="show the submission log: CV against public score (no network)")
    subs.add_argument("contest", nargs="?", type=Path, default=Path.cwd())
    subs.add_argument("--score", nargs=2, metavar=("NUMBER", "SCORE"), help="record submission #NUMBER's public "
                                                                           "score by hand (Tianchi)")
    exp = sub.add_parser("export", help="write each fold's network of a torch run as ONNX: <run>/onnx/fold<k>.onnx")
    exp.add_argument("run", help="a run folder, or a run id of the contest given by --contest")
    exp.add_argument("--contest", type=Path, default=Path.cwd(), help="contest folder (default: here)")
    args = parser.parse_args(argv)
    if args.command == "export":
        _export(args.run, args.contest)
        return
    if args.command in ("submit", "leaderboard", "submissions"):
        _submission_command(args)
        return
    if args.command == "runs":
        _runs(args.contest, args.prune)
        return

    if args.command == "run":
        if args.config:
            from common.contest import CONFIG_ENV

            os.environ[CONFIG_ENV] = args.config
        chosen = [s for s in STAGES if args.start <= s[:2] <= args.stop and s[:2] not in args.skip]
        run_stages(args.contest.resolve(), chosen)
    elif args.command == "demo":
        _demo(args.contest.resolve())
    elif args.command == "generate":
        from common.data.datasets import GENERATORS

        try:
            paths = GENERATORS.create(args.name, args.out, seed=args.seed, **_parse_settings(args.set))
        except KitError as exc:  # an unknown contest name: the choices, no traceback
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        for path in paths:
            print(path)
    elif args.command == "list":
        _list(args.pattern)


def _parse_settings(items: list[str]) -> dict:
    import yaml

    bad = [item for item in items if "=" not in item]
    if bad:
        raise SystemExit(f"--set takes KEY=VALUE pairs; got {bad[0]!r}")
    return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in items)}


def _demo(contest_dir: Path) -> None:
    from common.contest import Contest
    from common.data.datasets import GENERATORS
    from common.runs.pipeline import run_stages

    contest = Contest.load(contest_dir)
    data = contest.config.data
    if not (contest.path(data.train).is_file() and contest.path(data.test).is_file()):
        GENERATORS.create(contest.config.competition.name, contest.path(data.train).parent, seed=0)
        print(f"generated synthetic {contest.config.competition.name} data in {contest.path(data.train).parent} "
              "(put the real files there to compete)")
    run_stages(contest_dir)


def _runs(contest_dir: Path, prune: bool) -> None:
    from common.contest import Contest
    from common.runs.pipeline import prune_runs

    try:
        contest = Contest.load(contest_dir)
        prune_runs(contest, contest.features(log=lambda _: None), contest.folds(), delete=prune)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _export(run: str, contest_dir: Path) -> None:
    from common.models.torch.engine import export_onnx

    folder = Path(run)
    if not (folder / "meta.json").is_file() and (contest_dir / "config.yaml").is_file():
        from common.contest import Contest

        folder = Contest.load(contest_dir).store.path(run)
    if not (folder / "meta.json").is_file():
        print(f"error: no run {run!r}: give a run folder (runs/<run id>) or a run id with --contest "
              "(`compkit runs` lists them)", file=sys.stderr)
        raise SystemExit(2)
    networks = sorted((folder / "networks").glob("fold*.pt2"))
    if not networks:
        print(f"error: run {folder.name} has no saved networks (networks/fold<k>.pt2): only torch models trained "
              "with this kit's engine save them; retrain it (stage 04 with --force)", file=sys.stderr)
        raise SystemExit(2)
    for network in networks:
        print(export_onnx(network, folder / "onnx" / f"{network.stem}.onnx"))


def _submission_command(args: argparse.Namespace) -> None:
    from common.contest import Contest
    from common.submissions.upload import (
        KaggleCLIError,
        fetch_leaderboard,
        show_submissions,
        submission_log,
        submit,
    )

    try:
        contest = Contest.load(args.contest)
        if args.command == "submit":
            submit(contest, args.file, args.message, args.dry_run)
            return
        if args.command == "leaderboard":
            fetch_leaderboard(contest)
        elif args.score:
            number, score = args.score
            try:
                number, score = int(number), float(score)
            except ValueError:
                raise KitError(f"--score takes a submission number and a score, e.g. --score 3 0.1234; "
                               f"got {' '.join(args.score)!r}") from None
            submission_log(contest).set_score(number, score)
        show_submissions(contest)
    except KaggleCLIError as exc:  # the CLI's own message is already on screen; keep its exit code
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.returncode) from None
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _list(pattern: str) -> None:
    import common.models  # noqa: F401
    from common.ensemble import ENSEMBLERS
    from common.features import FEATURES
    from common.metrics import METRICS
    from common.models import MODELS
    from common.models.target import TARGET_TRANSFORMS
    from common.runs.train import TRAIN_FILTERS

    for registry in (MODELS, METRICS, FEATURES, ENSEMBLERS, TRAIN_FILTERS, TARGET_TRANSFORMS):
        print(f"{registry.kind}s: {', '.join(registry.list(pattern))}")


if __name__ == "__main__":
    main()
