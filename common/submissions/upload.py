"""Submit a contest's file: validate it against the contest's format, then upload it (Kaggle, through
the `kaggle` CLI) or package it for a manual upload (Tianchi), and log it in submissions/log.csv.

Credentials stay the kaggle CLI's business: this module never imports `kaggle` (it authenticates at
import), never reads kaggle.json and never prints the environment. The CLI's own output and exit
code are passed through, so a missing token reads exactly as the CLI words it.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.contest import Contest
from common.errors import ConfigError, KitError
from common.data.io import atomic_path, file_digest, read_json, write_json
from common.submissions.leaderboard import SubmissionLog, cv_vs_lb, merge_scores, parse_kaggle_submissions, plot_cv_vs_lb, \
    tracking_warnings
from common.submissions.files import check_submission, spec_for

MESSAGE_LIMIT = 500  # Kaggle truncates longer submission descriptions
_FAILED_BUT_ZERO = ("Could not submit to competition", "Could not find competition")  # the CLI exits 0 on these
# The credentials the kaggle 2.x CLI reads from the environment (KAGGLE_USERNAME, read beside KAGGLE_KEY, is none)
_SECRET_VARS = ("KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_IAP_TOKEN")
TIANCHI_HELP = ("Tianchi has no upload API: sign in at https://tianchi.aliyun.com, open the contest's page, "
                "choose 提交结果 (Submit results) and upload the file. Set competition.url in config.yaml to "
                "have this message name the exact page.")


class KaggleCLIError(KitError):
    """The kaggle CLI failed; its own output has been passed through. `returncode` is its exit code."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode or 1


@dataclass(frozen=True)
class Submitted:
    """What `submit` did: the file validated, the file to upload, the message, the command (Kaggle)."""

    file: Path
    upload: Path
    message: str
    command: tuple[str, ...] = ()
    logged: bool = False


# ---------------------------------------------------------------- provenance (written by stage 07)
def provenance_path(submission: str | Path) -> Path:
    """The sidecar of a submission: submissions/<file>.json."""
    submission = Path(submission)
    return submission.with_name(submission.name + ".json")


def write_provenance(submission: str | Path, *, strategy: str, cv_score: float, metric: str, runs: list[str],
                     fold_hash: str) -> Path:
    """Record beside a submission which strategy, runs and CV score produced it (<file>.json)."""
    submission = Path(submission)
    return write_json(provenance_path(submission), {
        "file": submission.name, "sha256": file_digest(submission), "strategy": strategy,
        "cv_score": float(cv_score), "metric": metric, "runs": list(runs), "fold_hash": fold_hash,
        "created": _now()})


def read_provenance(submission: str | Path, out=print, sha256: str | None = None) -> dict | None:
    """The sidecar of `submission` when it describes this very file (same sha256, if known), else None."""
    path = provenance_path(submission)
    if not path.is_file():
        return None
    info = read_json(path)
    if info.get("sha256") != (sha256 or file_digest(submission)):
        out(f"note: {path.name} describes another version of {Path(submission).name} (the file changed after "
            "stage 07); its strategy and CV score are not used.")
        return None
    return info


# ---------------------------------------------------------------- validation
def validate_file(contest: Contest, path: str | Path) -> pd.DataFrame:
    """Check a file against the contest's format (kind, labels, the target's scale included);
    SubmissionError names the first problem."""
    if contest.config.data.modality == "image":
        _, test = contest.load_raw()
        return check_submission(path, spec_for(contest, test))
    train, test = contest.load_raw(typed=False)
    return check_submission(path, spec_for(contest, test, train))


# ---------------------------------------------------------------- submit
def submit(contest: Contest, file: str | Path | None = None, message: str | None = None, dry_run: bool = False,
           out=print) -> Submitted:
    """Validate, then upload (Kaggle) or package (Tianchi), and log. A dry run logs and writes nothing."""
    cfg = contest.config
    path = (Path(file) if file else contest.submissions_dir / cfg.submission.file_name).resolve()
    validate_file(contest, path)
    out(f"{path}: valid ({cfg.submission.format} format, checked against {cfg.data.test})")
    sha256 = file_digest(path)
    info = read_provenance(path, out, sha256) or {}
    text = submission_message(info, message, path)
    row = {"time": _now(), "platform": cfg.competition.platform, "file": _relative(contest, path),
           "sha256": sha256, "strategy": info.get("strategy", ""), "runs": ";".join(info.get("runs", [])),
           "metric": info.get("metric", contest.metric.name), "cv_score": info.get("cv_score"), "message": text}
    if cfg.competition.platform == "kaggle":
        return _submit_kaggle(contest, path, text, row, dry_run, out)
    return _package_tianchi(contest, path, text, row, dry_run, out)


def submission_message(info: dict, message: str | None, path: Path) -> str:
    """The user's message, then strategy, CV score and run ids from the sidecar, within Kaggle's limit."""
    parts = [message.strip()] if message and message.strip() else []
    if info:
        parts.append(f"{info['strategy']} CV {info['metric']}={info['cv_score']:.6g}")
        runs = list(info.get("runs", []))
        tail = f" fold {info['fold_hash']}" if info.get("fold_hash") else ""
        for shown in range(len(runs), -1, -1):
            more = f" +{len(runs) - shown} more" if shown < len(runs) else ""
            candidate = " | ".join([*parts, f"runs {','.join(runs[:shown])}{more}{tail}"])
            if len(candidate) <= MESSAGE_LIMIT:
                return candidate
    return " | ".join(parts)[:MESSAGE_LIMIT] or f"compkit: {path.name}"


def _submit_kaggle(contest: Contest, path: Path, text: str, row: dict, dry_run: bool, out) -> Submitted:
    slug = contest.config.competition.kaggle_slug
    if not slug:
        raise ConfigError(f"{contest.root / 'config.yaml'}: competition.kaggle_slug is not set; set it to the "
                          "contest's URL suffix (kaggle.com/competitions/<slug>) to submit.")
    args = ("competitions", "submit", slug, "-f", str(path), "-m", text)
    if dry_run:
        out("dry run, nothing uploaded or logged; would run:\n  " + shlex.join(["kaggle", *args]))
        return Submitted(path, path, text, ("kaggle", *args))
    cmd, _ = run_kaggle(args)
    log = submission_log(contest)
    log.append({**row, "status": "submitted"})
    out(f"logged in {log.path}; `compkit leaderboard` fetches its public score.")
    return Submitted(path, path, text, cmd, logged=True)


def _package_tianchi(contest: Contest, path: Path, text: str, row: dict, dry_run: bool, out) -> Submitted:
    cfg = contest.config
    name = cfg.submission.upload_name or path.name
    upload = contest.submissions_dir / "upload" / (f"{Path(name).stem}.zip" if cfg.submission.zip else name)
    where = f"upload it at {cfg.competition.url}" if cfg.competition.url else TIANCHI_HELP
    if dry_run:
        out(f"dry run, nothing written or logged; would package {path.name} as {upload}, then: {where}")
        return Submitted(path, upload, text)
    with atomic_path(upload) as tmp:
        if cfg.submission.zip:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # same bytes for the same file
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
        else:
            shutil.copyfile(path, tmp)
    submission_log(contest).append({**row, "file": _relative(contest, upload), "status": "packaged"})
    out(f"packaged: {upload}")
    out(f"next: {where}")
    out("then record its score: compkit submissions --score <#> <public score>")
    return Submitted(path, upload, text, logged=True)


# ---------------------------------------------------------------- the kaggle CLI
def kaggle_executable() -> str:
    """The `kaggle` on PATH, else the one installed beside this interpreter."""
    found = shutil.which("kaggle") or shutil.which("kaggle", path=str(Path(sys.executable).parent))
    if not found:
        raise KitError("the kaggle CLI is not installed: pip install 'compkit[kaggle]' (or `pip install kaggle`).")
    return found


def run_kaggle(args: tuple[str, ...] | list[str], echo: bool = True) -> tuple[tuple[str, ...], str]:
    """Run the kaggle CLI: the command and its stdout, both with any credential redacted.

    Its output is passed through (always when it fails, otherwise when `echo`); a failure raises
    KaggleCLIError with its exit code.
    """
    cmd = (kaggle_executable(), *args)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    stdout, stderr = _redact(proc.stdout), _redact(proc.stderr)
    failed = proc.returncode != 0 or any(m in stdout + stderr for m in _FAILED_BUT_ZERO)
    if echo or failed:
        sys.stdout.write(stdout)
        sys.stderr.write(stderr)
        sys.stdout.flush()
    if failed:
        raise KaggleCLIError(f"`kaggle {' '.join(args[:2])}` failed (exit code {proc.returncode}); see its "
                             "message above. Nothing was logged.", proc.returncode)
    return cmd, stdout


def _redact(text: str) -> str:
    """Belt and braces: no credential from the environment is ever echoed, whatever the CLI prints."""
    for var in _SECRET_VARS:
        secret = os.environ.get(var, "")
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- leaderboard
def fetch_leaderboard(contest: Contest, out=print) -> pd.DataFrame:
    """Kaggle: fetch past submissions' scores with the CLI and merge them into the log."""
    cfg = contest.config.competition
    log = submission_log(contest)
    if cfg.platform != "kaggle":
        out("Tianchi has no API for scores: record each public score with "
            "`compkit submissions --score <#> <score>`.")
        return log.read()
    if not cfg.kaggle_slug:
        raise ConfigError(f"{contest.root / 'config.yaml'}: competition.kaggle_slug is not set.")
    args = ("competitions", "submissions", cfg.kaggle_slug, "--csv", "--page-size", "200")
    _, listing = run_kaggle(args, echo=False)
    merged, updated = merge_scores(log.read(), parse_kaggle_submissions(listing))
    log.write(merged)
    out(f"{updated} submission(s) updated from Kaggle in {log.path}")
    return merged


def show_submissions(contest: Contest, out=print) -> tuple[pd.DataFrame, Path | None]:
    """Print CV against public score for every logged submission; plot it when >= 2 are scored."""
    log = submission_log(contest)
    table = cv_vs_lb(log.read())
    if table.empty:
        out(f"no submissions logged in {log.path} yet: `compkit submit` logs each one.")
        return table, None
    out(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.5g}"))
    for warning in tracking_warnings(table, contest.metric.greater_is_better):
        out(f"warning: {warning}")
    png = plot_cv_vs_lb(table, contest.metric.name, contest.reports_dir / "cv_vs_lb.png")
    out(f"plot: {png}" if png else "(the CV-vs-LB plot needs at least 2 submissions with a public score)")
    return table, png


def submission_log(contest: Contest) -> SubmissionLog:
    """The contest's log of submissions: submissions/log.csv."""
    return SubmissionLog(contest.submissions_dir / "log.csv")


def _relative(contest: Contest, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(contest.root))
    except ValueError:
        return str(path.resolve())


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
