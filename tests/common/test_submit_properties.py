"""The kaggle CLI wrapper on its own: whatever the CLI prints, no credential from the environment reaches
the screen or the caller (hypothesis over secrets and texts); its exit code and the failures it reports
with exit code 0 become a KaggleCLIError; its output is passed through when asked or when it fails."""
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.submissions import upload as submit
from common.submissions.upload import KaggleCLIError, _redact, run_kaggle

SECRET_VARS = ("KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_IAP_TOKEN")
# a token always holds a digit and PROSE never does: prose around a token can never contain one by chance
TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=7, max_size=39).map(lambda s: "7" + s)
SHORT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=7)
PROSE = st.text(alphabet="abc xyz\n:=-", max_size=30)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

STAND_IN = """#!{python}
import os, sys
sys.stdout.write(os.environ.get("FAKE_OUT", ""))
sys.stderr.write(os.environ.get("FAKE_ERR", ""))
sys.exit(int(os.environ.get("FAKE_CODE", "0")))
"""


@pytest.fixture
def cli_stand_in(tmp_path, monkeypatch):
    """run_kaggle's executable replaced by a script printing $FAKE_OUT / $FAKE_ERR and exiting $FAKE_CODE."""
    exe = tmp_path / "kaggle"
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setattr(submit, "kaggle_executable", lambda: str(exe))
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    return exe


@SETTINGS
@given(secrets=st.lists(TOKENS, min_size=3, max_size=3), pieces=st.lists(PROSE, min_size=4, max_size=4),
       order=st.permutations(range(3)))
def test_no_secret_of_eight_or_more_characters_survives_redaction(monkeypatch, secrets, pieces, order):
    for var, secret in zip(SECRET_VARS, secrets):
        monkeypatch.setenv(var, secret)
    text = pieces[0] + "".join(secrets[i] + pieces[k + 1] for k, i in enumerate(order))
    out = _redact(text)
    assert all(secret not in out for secret in secrets)
    assert pieces[0] in out and pieces[-1] in out and "***" in out  # the rest of the text is kept


@SETTINGS
@given(secret=TOKENS, text=PROSE)
def test_redaction_replaces_each_occurrence_with_stars_and_nothing_else(monkeypatch, secret, text):
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_KEY", secret)
    assert _redact(text) == text  # text without the secret (PROSE cannot hold it: it has no digits) is unchanged
    assert _redact(f"{text}{secret}{text}{secret}") == f"{text}***{text}***"


@SETTINGS
@given(short=SHORT, text=PROSE)
def test_values_too_short_to_be_a_credential_are_left_alone(monkeypatch, short, text):
    """A variable set to e.g. '1' or 'true' must not blank every such character of the CLI's output."""
    for var in SECRET_VARS:
        monkeypatch.setenv(var, short)
    assert _redact(f"{text}{short}{text}") == f"{text}{short}{text}"


def test_other_environment_variables_are_not_credentials(monkeypatch):
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone-long-name")
    assert _redact("user someone-long-name") == "user someone-long-name"


def test_run_kaggle_returns_the_command_and_redacted_output(cli_stand_in, monkeypatch, capsys):
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef")
    monkeypatch.setenv("FAKE_OUT", "key 0123456789abcdef ok\n")
    monkeypatch.setenv("FAKE_ERR", "warn 0123456789abcdef\n")
    cmd, out = run_kaggle(("competitions", "list"))
    assert cmd == (str(cli_stand_in), "competitions", "list") and out == "key *** ok\n"
    captured = capsys.readouterr()
    assert captured.out == "key *** ok\n" and captured.err == "warn ***\n"  # passed through, redacted
    cmd, out = run_kaggle(["competitions", "submissions", "x"], echo=False)
    assert cmd == (str(cli_stand_in), "competitions", "submissions", "x") and out == "key *** ok\n"
    assert capsys.readouterr() == ("", "")  # read, not echoed


@pytest.mark.parametrize("code", [1, 2, 127])
def test_a_failing_cli_raises_with_its_exit_code_and_shows_its_output(cli_stand_in, monkeypatch, capsys, code):
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_secret_token_value")
    monkeypatch.setenv("FAKE_OUT", "out KGAT_secret_token_value\n")
    monkeypatch.setenv("FAKE_ERR", "401 Unauthorized KGAT_secret_token_value\n")
    monkeypatch.setenv("FAKE_CODE", str(code))
    with pytest.raises(KaggleCLIError) as err:
        run_kaggle(("competitions", "submit", "slug", "-f", "x.csv"), echo=False)
    assert err.value.returncode == code
    assert str(err.value) == (f"`kaggle competitions submit` failed (exit code {code}); see its message above. "
                              "Nothing was logged.")
    captured = capsys.readouterr()  # shown even with echo=False: the user needs the CLI's own words
    assert captured.out == "out ***\n" and captured.err == "401 Unauthorized ***\n"


@pytest.mark.parametrize("message", ["Could not submit to competition", "Could not find competition"])
@pytest.mark.parametrize("stream", ["FAKE_OUT", "FAKE_ERR"])
def test_failures_the_cli_reports_with_exit_code_zero_are_failures(cli_stand_in, monkeypatch, capsys, message, stream):
    monkeypatch.setenv(stream, f"400 - {message}: bad request\n")
    with pytest.raises(KaggleCLIError, match=r"exit code 0\)") as err:
        run_kaggle(("competitions", "submit", "slug"), echo=False)
    assert err.value.returncode == 1  # a failure is never reported as success to the shell
    assert message in capsys.readouterr()[0 if stream == "FAKE_OUT" else 1]


def test_kaggle_cli_error_keeps_a_nonzero_exit_code():
    assert KaggleCLIError("m", 3).returncode == 3 and KaggleCLIError("m", 0).returncode == 1
    assert str(KaggleCLIError("the message", 2)) == "the message"


def test_a_missing_cli_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(submit.KitError, match=r"pip install 'compkit\[kaggle\]'"):
        submit.kaggle_executable()
    (tmp_path / "kaggle").write_text("#!/bin/sh\n")
    (tmp_path / "kaggle").chmod(0o755)
    assert submit.kaggle_executable() == str(tmp_path / "kaggle")
    assert os.path.basename(submit.kaggle_executable()) == "kaggle"
