"""Submitting: validation refuses bad files, Kaggle goes through the kaggle CLI (a stand-in here, and the
real one for its missing-credentials path), Tianchi is packaged, everything lands in the log, and the
CV-vs-leaderboard table shows when CV stops tracking the board. No credential is ever printed or stored."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from common.cli import main as cli
from common.contest import Contest
from common.errors import ConfigError, SubmissionError
from common.submissions.leaderboard import SubmissionLog, merge_scores, parse_kaggle_submissions
from common.submissions.files import build_submission, spec_for
from common.submissions.upload import KaggleCLIError, read_provenance, submit, validate_file, write_provenance
from tests.conftest import classification_frames, write_contest

REPO = Path(__file__).resolve().parents[2]
SECRET = "c0ffee-not-a-real-kaggle-key-5ca1ab1e"

STAND_IN = """\
#!{python}
# A stand-in for the kaggle CLI: records its argv, answers like the real one.
import json, os, sys
with open(os.environ["FAKE_KAGGLE_ARGV"], "a") as fh:
    fh.write(json.dumps(sys.argv[1:]) + "\\n")
mode = os.environ.get("FAKE_KAGGLE_MODE", "ok")
if mode.startswith("leak"):  # a CLI that echoes every credential it reads, on both streams
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_IAP_TOKEN"):
        print("debug: " + var + "=" + os.environ.get(var, ""))
        print("debug: " + var + "=" + os.environ.get(var, ""), file=sys.stderr)
if mode == "leak-fail":
    sys.exit(4)
if mode == "fail":
    print("401 - Unauthorized", file=sys.stderr)
    sys.exit(3)
if mode == "quiet-fail":
    print("Could not submit to competition")
    sys.exit(0)
if sys.argv[1:3] == ["competitions", "submit"]:
    print("100%|##########| 4.17k/4.17k [00:00<00:00, 9.1kB/s]")
    print("Successfully submitted to Bin")
elif sys.argv[1:3] == ["competitions", "submissions"]:
    sys.stdout.write(open(os.environ["FAKE_KAGGLE_CSV"]).read())
"""


@pytest.fixture
def fake_kaggle(tmp_path, monkeypatch):
    """A `kaggle` stand-in first on PATH; returns a function giving the argv lists it was called with."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    exe = bin_dir / "kaggle"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    argv_log = tmp_path / "kaggle_argv.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_KAGGLE_ARGV", str(argv_log))
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", SECRET)
    return lambda: [json.loads(line) for line in argv_log.read_text().splitlines()] if argv_log.exists() else []


def _test_frame(contest: Contest) -> pd.DataFrame:
    d = contest.config.data
    return pd.read_csv(contest.path(d.test), sep=d.sep)


def valid_file(contest_dir: Path, provenance: dict | None = None) -> Path:
    """A valid submission at submissions/<file_name>, with a stage-07 sidecar when `provenance` is given."""
    contest = Contest.load(contest_dir)
    test = _test_frame(contest)
    spec = spec_for(contest, test)
    values = {"binary": np.linspace(0.01, 0.99, len(test)), "multiclass": np.arange(len(test)) % 3}.get(
        contest.task, np.linspace(-1, 1, len(test)))
    path = contest.submissions_dir / contest.config.submission.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    build_submission(values, spec, test).to_csv(path, index=False, header=spec.format == "csv")
    if provenance:
        write_provenance(path, **provenance)
    return path


DATA = {"train": "data/raw/train.csv", "test": "data/raw/test.csv", "id_column": "id", "target": "label"}
PROVENANCE = {"strategy": "hill_climb", "cv_score": 0.91234, "metric": "auc",
              "runs": ["logistic-1a2b3c4d", "lightgbm-5e6f7a8b"], "fold_hash": "f0ldha5h"}


# ---------------------------------------------------------------- Kaggle
def test_submit_calls_kaggle_cli_with_exact_argv_and_logs(binary_contest, fake_kaggle, capsys):
    path = valid_file(binary_contest, PROVENANCE)
    done = submit(Contest.load(binary_contest), message="first blend")
    message = ("first blend | hill_climb CV auc=0.91234 | runs logistic-1a2b3c4d,lightgbm-5e6f7a8b fold f0ldha5h")
    assert fake_kaggle() == [["competitions", "submit", "bin", "-f", str(path.resolve()), "-m", message]]
    assert done.logged and done.message == message
    out = capsys.readouterr().out
    assert "Successfully submitted to Bin" in out  # the CLI's own output is passed through
    log = SubmissionLog(binary_contest / "submissions" / "log.csv").read()
    row = log.iloc[0]
    assert len(log) == 1 and row["status"] == "submitted" and row["platform"] == "kaggle"
    assert row["file"] == "submissions/submission.csv" and row["strategy"] == "hill_climb"
    assert row["cv_score"] == pytest.approx(0.91234) and row["runs"] == "logistic-1a2b3c4d;lightgbm-5e6f7a8b"
    assert len(row["sha256"]) == 64 and row["message"] == message and np.isnan(row["public_score"])


def test_cli_submit_with_file_and_default_message(binary_contest, fake_kaggle, tmp_path, monkeypatch):
    path = valid_file(binary_contest)
    other = tmp_path / "elsewhere.csv"
    other.write_bytes(path.read_bytes())
    monkeypatch.chdir(binary_contest)
    cli(["submit", "--file", str(other)])
    assert fake_kaggle() == [["competitions", "submit", "bin", "-f", str(other), "-m", "compkit: elsewhere.csv"]]


def test_dry_run_prints_command_and_logs_nothing(binary_contest, fake_kaggle, capsys):
    path = valid_file(binary_contest, PROVENANCE)
    cli(["submit", str(binary_contest), "--dry-run", "-m", "try"])
    out = capsys.readouterr().out
    assert "dry run" in out and f"kaggle competitions submit bin -f {path.resolve()} -m 'try | hill_climb" in out
    assert fake_kaggle() == []
    assert not (binary_contest / "submissions" / "log.csv").exists()


@pytest.mark.skipif(not (Path(sys.executable).parent / "kaggle").exists(),
                    reason="the kaggle CLI is not installed here (pip install -e '.[kaggle]'; make test does)")
def test_real_kaggle_cli_missing_credentials_is_passed_through(binary_contest, tmp_path):
    valid_file(binary_contest)
    empty = tmp_path / "empty_home"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN")}
    env.update(HOME=str(empty), KAGGLE_CONFIG_DIR=str(empty),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    proc = subprocess.run([sys.executable, "-m", "common.cli", "submit", str(binary_contest), "-m", "x"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode != 0
    assert "Authentication required to call the Kaggle API" in proc.stdout + proc.stderr  # the CLI's own words
    assert "Nothing was logged" in proc.stderr
    assert not (binary_contest / "submissions" / "log.csv").exists()


@pytest.mark.parametrize("mode, code", [("fail", 3), ("quiet-fail", 1)])
def test_kaggle_failure_keeps_exit_code_and_logs_nothing(binary_contest, fake_kaggle, monkeypatch, capsys, mode, code):
    valid_file(binary_contest)
    monkeypatch.setenv("FAKE_KAGGLE_MODE", mode)
    with pytest.raises(SystemExit) as exit_info:
        cli(["submit", str(binary_contest)])
    assert exit_info.value.code == code
    captured = capsys.readouterr()
    assert ("401 - Unauthorized" in captured.err) if mode == "fail" else ("Could not submit" in captured.out)
    assert not (binary_contest / "submissions" / "log.csv").exists()


# What the kaggle 2.x CLI authenticates with from the environment: KAGGLE_KEY (with KAGGLE_USERNAME, which is
# not a secret), KAGGLE_API_TOKEN (an access token, or the path of a file holding one) and KAGGLE_IAP_TOKEN.
SECRETS = {"KAGGLE_KEY": SECRET, "KAGGLE_API_TOKEN": "KGAT_0123456789abcdef-not-real",
           "KAGGLE_IAP_TOKEN": "iap-0123456789abcdef-not-real"}


def test_no_credential_is_printed_or_stored(binary_contest, fake_kaggle, monkeypatch, capsys):
    for var, secret in SECRETS.items():
        monkeypatch.setenv(var, secret)
    valid_file(binary_contest, PROVENANCE)
    monkeypatch.setenv("FAKE_KAGGLE_MODE", "leak")  # even a CLI that echoes them is redacted
    cli(["submit", str(binary_contest), "--dry-run"])
    cli(["submit", str(binary_contest), "-m", "leaky"])
    csv = binary_contest / "scores.csv"
    csv.write_text("ref,fileName,date,description,status,publicScore,privateScore\n")
    monkeypatch.setenv("FAKE_KAGGLE_CSV", str(csv))
    cli(["leaderboard", str(binary_contest)])  # its output is read, not echoed, but still redacted
    monkeypatch.setenv("FAKE_KAGGLE_MODE", "leak-fail")  # a failure passes the CLI's output through
    with pytest.raises(SystemExit):
        cli(["submit", str(binary_contest), "-m", "leaky again"])
    captured = capsys.readouterr()
    for var, secret in SECRETS.items():
        assert secret not in captured.out and secret not in captured.err, var
        # the leak did reach the user's screen on both streams, redacted (twice: the upload and the failure)
        assert captured.out.count(f"debug: {var}=***") == 2 and captured.err.count(f"debug: {var}=***") == 2, var
    assert "debug: KAGGLE_USERNAME=someone" in captured.out  # the user name is no secret
    assert len(SubmissionLog(binary_contest / "submissions" / "log.csv").read()) == 1
    for path in binary_contest.rglob("*"):
        if path.is_file():
            for secret in SECRETS.values():
                assert secret.encode() not in path.read_bytes(), path


def test_missing_slug_is_a_config_error(tmp_path, fake_kaggle):
    train, test = classification_frames()
    config = {"competition": {"name": "x", "task": "binary", "metric": "auc"},  # no kaggle_slug
              "data": DATA,
              "models": [{"name": "logistic"}]}
    root = write_contest(tmp_path / "x", config, train, test)
    valid_file(root)
    with pytest.raises(ConfigError, match="kaggle_slug"):
        submit(Contest.load(root))
    assert fake_kaggle() == []


# ---------------------------------------------------------------- validation
def _shift_id(f):
    f.loc[5, "id"] = 99999
    return f


BAD_CSV = {
    "fewer rows": (lambda f: f.iloc[:-1], r"has 199 rows; the test set has 200"),
    "more rows": (lambda f: pd.concat([f, f.iloc[:1]]), r"has 201 rows"),
    "missing column": (lambda f: f[["id"]], r"columns \['id'\]; expected \['id', 'label'\]"),
    "extra column": (lambda f: f.assign(extra=1), r"columns \['id', 'label', 'extra'\]"),
    "renamed column": (lambda f: f.rename(columns={"label": "target"}), r"columns \['id', 'target'\]"),
    "wrong id": (_shift_id, r"row 5 has id 99999, expected 1305"),
    "wrong order": (lambda f: f.iloc[::-1], r"ids are right but in another order"),
    "NaN": (lambda f: f.assign(label=f["label"].where(f.index != 7)), r"row 7 holds .*nan.*, not a finite number"),
    "inf": (lambda f: f.assign(label=f["label"].where(f.index != 8, np.inf)), r"row 8 holds .*inf"),
    "text value": (lambda f: f.assign(label=f["label"].astype(object).where(f.index != 9, "high")),
                   r"row 9 holds 'high', not a finite number"),
    "probability above 1": (lambda f: f.assign(label=f["label"].where(f.index != 3, 1.5)),
                            r"row 3 holds 1.5, outside \[0.0, 1.0\]"),
    "negative probability": (lambda f: f.assign(label=f["label"].where(f.index != 4, -0.1)), r"row 4 holds -0.1"),
}


@pytest.mark.parametrize("problem", list(BAD_CSV))
def test_bad_csv_files_are_refused_before_upload(binary_contest, fake_kaggle, problem):
    path = valid_file(binary_contest)
    mutate, message = BAD_CSV[problem]
    mutate(pd.read_csv(path)).to_csv(path, index=False)
    with pytest.raises(SubmissionError, match=message):
        submit(Contest.load(binary_contest))
    assert fake_kaggle() == []
    assert not (binary_contest / "submissions" / "log.csv").exists()


def test_empty_and_missing_files_are_refused(binary_contest):
    contest = Contest.load(binary_contest)
    path = valid_file(binary_contest)
    path.write_text("")
    with pytest.raises(SubmissionError, match="is empty"):
        validate_file(contest, path)
    with pytest.raises(SubmissionError, match="not found"):
        validate_file(contest, path.with_name("nope.csv"))


def test_non_integer_class_label_is_refused(tmp_path):
    train, test = classification_frames(n_classes=3)
    config = {"competition": {"name": "mc", "task": "multiclass", "metric": "accuracy", "kaggle_slug": "mc"},
              "data": DATA,
              "models": [{"name": "logistic"}]}
    root = write_contest(tmp_path / "mc", config, train, test)
    path = valid_file(root)
    contest = Contest.load(root)
    validate_file(contest, path)
    frame = pd.read_csv(path)
    frame["label"] = frame["label"].astype(float).where(frame.index != 2, 1.5)
    frame.to_csv(path, index=False)
    with pytest.raises(SubmissionError, match="class labels must be whole numbers; got 1.5"):
        validate_file(contest, path)


@pytest.mark.parametrize("content, message", [
    (lambda lines: ["prediction", *lines], r"first line is 'prediction'.*no header"),
    (lambda lines: lines[:-2], r"has 198 rows; the test set has 200"),
    (lambda lines: [*lines[:3], "nan", *lines[4:]], r"row 3 holds .*nan"),
    (lambda lines: [*lines[:3], "inf", *lines[4:]], r"row 3 holds .*inf"),
    (lambda lines: [*lines[:3], "abc", *lines[4:]], r"row 3 holds 'abc'"),
], ids=["header", "row count", "NaN", "inf", "text"])
def test_bad_lines_files_are_refused(regression_contest, content, message):
    path = valid_file(regression_contest)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(content(lines)) + "\n")
    with pytest.raises(SubmissionError, match=message):
        submit(Contest.load(regression_contest))
    assert not (regression_contest / "submissions" / "log.csv").exists()


# ---------------------------------------------------------------- Tianchi
def _configure(contest_dir: Path, **sections) -> None:
    config = yaml.safe_load((contest_dir / "config.yaml").read_text())
    for section, values in sections.items():
        config[section].update(values)
    (contest_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def test_tianchi_packages_zip_and_names_the_page(regression_contest, capsys):
    url = "https://tianchi.aliyun.com/competition/entrance/231693/submission"
    _configure(regression_contest, competition={"url": url}, submission={"upload_name": "result.txt", "zip": True})
    path = valid_file(regression_contest, {**PROVENANCE, "metric": "mse", "cv_score": 0.1123})
    done = submit(Contest.load(regression_contest), message="svr+ridge")
    assert done.upload == regression_contest / "submissions" / "upload" / "result.zip"
    with zipfile.ZipFile(done.upload) as archive:
        assert archive.namelist() == ["result.txt"]
        assert archive.read("result.txt") == path.read_bytes()
    out = capsys.readouterr().out
    assert f"upload it at {url}" in out and str(done.upload) in out
    row = SubmissionLog(regression_contest / "submissions" / "log.csv").read().iloc[0]
    assert row["status"] == "packaged" and row["file"] == "submissions/upload/result.zip"
    assert row["platform"] == "tianchi" and row["cv_score"] == pytest.approx(0.1123)
    first = done.upload.read_bytes()
    submit(Contest.load(regression_contest))
    assert done.upload.read_bytes() == first  # same file, same archive bytes


def test_tianchi_plain_copy_with_generic_instruction_and_dry_run(regression_contest, capsys):
    path = valid_file(regression_contest)
    contest = Contest.load(regression_contest)
    dry = submit(contest, dry_run=True)
    assert not dry.upload.exists() and not (regression_contest / "submissions" / "log.csv").exists()
    done = submit(contest)
    assert done.upload == regression_contest / "submissions" / "upload" / "sub.txt"
    assert done.upload.read_bytes() == path.read_bytes()
    out = capsys.readouterr().out
    assert "dry run, nothing written or logged" in out and "Tianchi has no upload API" in out


# ---------------------------------------------------------------- log and leaderboard
def _kaggle_csv(rows: list[tuple]) -> str:
    head = "ref,fileName,date,description,status,publicScore,privateScore\n"
    return head + "".join(",".join(f'"{v}"' if isinstance(v, str) and "," in v else str(v) for v in r) + "\n"
                          for r in rows)


def test_leaderboard_merges_scores_and_shows_cv_against_lb(binary_contest, fake_kaggle, monkeypatch, capsys):
    contest = Contest.load(binary_contest)
    messages = []
    for cv in (0.80, 0.85, 0.90):
        valid_file(binary_contest, {**PROVENANCE, "cv_score": cv})
        messages.append(submit(contest, message=f"cv {cv}").message)
    log_path = binary_contest / "submissions" / "log.csv"
    times = SubmissionLog(log_path).read()["time"].str.replace("T", " ").str.rstrip("Z")
    csv = binary_contest / "kaggle_submissions.csv"
    csv.write_text("Using competition: bin\n" + _kaggle_csv([  # newest first, as Kaggle lists them
        (103, "submission.csv", f"{times[2]}.5", messages[2], "COMPLETE", 0.79, ""),
        (102, "submission.csv", f"{times[1]}.2", messages[1], "COMPLETE", 0.84, ""),
        (101, "submission.csv", f"{times[0]}.1", messages[0], "COMPLETE", 0.81, ""),
        (100, "other.csv", "2020-01-01 00:00:00", "by hand", "COMPLETE", 0.5, ""),
    ]))
    monkeypatch.setenv("FAKE_KAGGLE_CSV", str(csv))
    capsys.readouterr()
    cli(["leaderboard", str(binary_contest)])
    assert fake_kaggle()[-1] == ["competitions", "submissions", "bin", "--csv", "--page-size", "200"]
    log = SubmissionLog(log_path).read()
    assert log["public_score"].tolist() == [0.81, 0.84, 0.79]
    assert log["ref"].tolist() == ["101", "102", "103"] and set(log["status"]) == {"COMPLETE"}
    out = capsys.readouterr().out
    assert "3 submission(s) updated" in out
    assert "#3 improved CV over #2 (0.85 -> 0.9) but its public score got worse (0.84 -> 0.79)" in out
    assert (binary_contest / "reports" / "cv_vs_lb.png").stat().st_size > 1000
    header = next(line for line in out.splitlines() if "cv_score" in line).split()
    assert header == ["#", "time", "file", "strategy", "status", "cv_score", "public_score", "lb_minus_cv"]
    cli(["leaderboard", str(binary_contest)])  # idempotent
    assert "0 submission(s) updated" in capsys.readouterr().out


def test_merge_matches_by_file_and_time_when_description_differs():
    log = pd.DataFrame({"time": ["2025-03-01T10:00:00Z", "2025-03-05T10:00:00Z"], "platform": ["kaggle"] * 2,
                        "file": ["submissions/a.csv"] * 2, "message": ["m1", "m2"], "ref": ["", ""],
                        "status": ["submitted"] * 2, "public_score": [np.nan] * 2, "private_score": [np.nan] * 2})
    kaggle = parse_kaggle_submissions(_kaggle_csv([
        (7, "a.csv", "2025-03-01 10:00:03", "edited on the website", "COMPLETE", 0.7, ""),
        (8, "a.csv", "2025-03-09 10:00:00", "too late to be m2", "COMPLETE", 0.8, ""),
    ]))
    merged, updated = merge_scores(log, kaggle)
    assert updated == 1 and merged["public_score"].iloc[0] == 0.7 and np.isnan(merged["public_score"].iloc[1])


def test_tianchi_scores_by_hand_and_plot_needs_two(regression_contest, capsys):
    contest = Contest.load(regression_contest)
    for cv in (0.12, 0.11):
        valid_file(regression_contest, {**PROVENANCE, "metric": "mse", "cv_score": cv})
        submit(contest)
    cli(["submissions", str(regression_contest), "--score", "1", "0.130"])
    assert "needs at least 2 submissions" in capsys.readouterr().out
    cli(["leaderboard", str(regression_contest), ])
    assert "Tianchi has no API for scores" in capsys.readouterr().out
    cli(["submissions", str(regression_contest), "--score", "2", "0.125"])
    out = capsys.readouterr().out
    assert "warning" not in out and (regression_contest / "reports" / "cv_vs_lb.png").is_file()
    with pytest.raises(SystemExit) as exit_info:
        cli(["submissions", str(regression_contest), "--score", "9", "0.1"])
    assert exit_info.value.code == 2 and "rows 1..2" in capsys.readouterr().err


def test_provenance_of_a_changed_file_is_ignored(binary_contest, capsys):
    path = valid_file(binary_contest, PROVENANCE)
    assert read_provenance(path)["strategy"] == "hill_climb"
    path.write_text(path.read_text().replace("0.01", "0.02", 1))
    assert read_provenance(path) is None
    assert "changed after stage 07" in capsys.readouterr().out


def test_long_run_lists_are_cut_to_kagges_limit(binary_contest, fake_kaggle):
    runs = [f"model{i:03d}-{'ab' * 4}" for i in range(60)]
    valid_file(binary_contest, {**PROVENANCE, "runs": runs})
    message = submit(Contest.load(binary_contest), message=textwrap.shorten("x " * 50, 60)).message
    assert len(message) <= 500 and "more fold f0ldha5h" in message and message.startswith("x x")


def test_kaggle_cli_error_carries_exit_code():
    assert KaggleCLIError("x", 0).returncode == 1 and KaggleCLIError("x", 4).returncode == 4
