"""Two worker processes share one Optuna study on a real PostgreSQL server.

The fixture starts a throw-away server (initdb + pg_ctl) on loopback with its socket in a temp dir. Its
binaries come from the Debian `postgresql` package: scripts/system_deps.sh installs it; the test fails,
rather than skips, when they are missing, so a machine that cannot run it is noticed.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_USER = "postgres"  # the unprivileged account the server runs as when the tests run as root

WORKER = r"""
import sys, time
from pathlib import Path
import numpy as np, pandas as pd
from common.config import Component
from common.data.folds import make_folds
from common.metrics import get_metric
from common.optimize import search
from common.runs.train import CVContext

url, name, n_trials, ready, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5])
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(300, 5)), columns=[f"f{i}" for i in range(5)])
y = X.to_numpy() @ np.array([1.0, -2, 0.5, 0, 0]) + rng.normal(scale=0.3, size=300)
spec = Component(name="lightgbm", params={"n_estimators": 40, "early_stopping_rounds": 0, "num_threads": 1})
ready.touch()
deadline = time.time() + 60
while not go.exists() and time.time() < deadline:  # start both workers' searches together
    time.sleep(0.05)
search(spec, X, y, X.iloc[:5], CVContext(make_folds(300, "kfold", 3, seed=0), get_metric("mse"), "regression"),
       url, name, n_trials, progress=False)
"""


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if os.environ.get("PG_BIN"):
        found = [str(Path(os.environ["PG_BIN"]) / "initdb")]
    if not found or not Path(found[-1]).is_file():
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin: "
                    "run scripts/system_deps.sh (installs the Debian `postgresql` package), or set PG_BIN.")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """A SQLAlchemy URL to an empty database on a PostgreSQL server started for this test session."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.fail("psycopg2 is missing: pip install -e '.[postgres]'")
    bin_dir = _pg_bin()
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="compkit-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            account = pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.fail(f"running as root needs an unprivileged {PG_USER!r} account for the server: "
                        "run scripts/system_deps.sh (the postgresql package creates it).")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", PG_USER, "--"]
    data, port, log = root / "data", _free_port(), root / "server.log"

    def pg(*cmd: str, timeout: int = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=timeout, cwd=root)

    init = pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    start = pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start")
    try:
        if start.returncode != 0:
            pytest.fail(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{log.read_text() if log.exists() else ''}")
        made = pg(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "compkit")
        if made.returncode != 0:
            pytest.fail(f"createdb failed:\n{made.stderr}")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/compkit"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_one_study_on_postgres(postgres_url, tmp_path):
    import optuna

    n_trials, name = 16, "two-workers"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, postgres_url, name, str(n_trials),
                                 str(tmp_path / f"ready{i}"), str(go)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True) for i in range(2)]
    try:
        deadline = time.time() + 45
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)) and time.time() < deadline:
            if any(w.poll() not in (None, 0) for w in workers):
                break
            time.sleep(0.05)
        go.touch()
        outputs = [w.communicate(timeout=60)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for w, out in zip(workers, outputs):
        assert w.returncode == 0, out

    study = optuna.load_study(study_name=name, storage=postgres_url)
    states = [t.state.name for t in study.trials]
    finished = states.count("COMPLETE") + states.count("PRUNED")
    # The budget is a study total (see common.optimize): each worker stops once the study holds n_trials,
    # so a trial the other worker had already started may add one more. None failed or was left running.
    assert set(states) <= {"COMPLETE", "PRUNED"}, states
    assert n_trials <= finished <= n_trials + 1, states
    assert sorted(t.number for t in study.trials) == list(range(len(study.trials)))
    by_worker = {t.user_attrs.get("worker") for t in study.trials}
    pids = {f"{socket.gethostname()}:{w.pid}" for w in workers}
    assert by_worker == pids, f"trials per worker: {[t.user_attrs.get('worker') for t in study.trials]}"
