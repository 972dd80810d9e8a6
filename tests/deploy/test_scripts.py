"""The local scripts on a stock machine: PostgreSQL with a password, no browser for the demo,
progress while the DAG runs, and a stack that starts the T2A stand-in only when T2A_API_URL
names it.

The demo runs for real in a world of its own: a throw-away PostgreSQL cluster that requires a
password (scram-sha-256; no PGPASSWORD given, only DB_PASSWORD), a private Redis, its own
AIRFLOW_HOME, stand-in port and staging folder. stack.sh is only planned (`stack.sh plan`),
never started here (tests/system starts it).
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, free_port

SCRIPTS = ROOT / "scripts"
# Variables of the session (test.sh's env.sh, fixtures) that would point the scripts elsewhere.
FOREIGN = ("AIRFLOW", "DB_", "PG", "T2A_", "REDIS_", "DEMO_", "STAGING_", "STACK_")


def _clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN) and k != "PYTHONPATH"}
    return {**env, **settings}


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    assert path, f"PostgreSQL's {name} not found"
    return path


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[tuple[int, str]]:
    """A PostgreSQL cluster on a free port whose every login needs a password: (port, password)."""
    password = secrets.token_urlsafe(12)
    folder = Path(tempfile.mkdtemp(prefix="acp-pgpw-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
        folder.chmod(0o755)
        shutil.chown(folder, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    (folder / "pw").write_text(password + "\n")
    if as_postgres:
        shutil.chown(folder / "pw", "postgres")
    data, port = folder / "data", free_port()
    initdb = [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256", "--no-sync"]
    subprocess.run([*as_postgres, *initdb, f"--pwfile={folder / 'pw'}", "-E", "UTF8"], check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield port, password
    finally:
        subprocess.run(
            [*as_postgres, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def private_redis() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(10)


def test_postgres_fixture_really_requires_the_password(password_postgres):
    port, password = password_postgres
    env = _clean_env()
    no_password = [
        "psql",
        "-w",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-c",
        "SELECT 1",
    ]
    assert subprocess.run(no_password, env=env, capture_output=True).returncode != 0
    assert subprocess.run(no_password, env={**env, "PGPASSWORD": password}, capture_output=True).returncode == 0


def test_setup_without_the_password_says_what_is_missing(password_postgres, private_redis, tmp_path):
    port, _ = password_postgres
    env = _clean_env(AIRFLOW_HOME=str(tmp_path / "home"), DB_PORT=str(port), REDIS_URL=private_redis)
    setup = subprocess.run(
        [SCRIPTS / "setup.sh"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
    )
    assert setup.returncode != 0
    assert "set DB_PASSWORD" in setup.stderr, setup.stderr[-2000:]


@pytest.mark.slow
def test_demo_runs_on_a_postgresql_that_requires_a_password(password_postgres, private_redis, tmp_path):
    """DB_PASSWORD alone reaches database creation (psql, createdb), Airflow's metadata, the card
    store, seeding and the operators' CLI; the DAG run shows its progress."""
    port, password = password_postgres
    env = _clean_env(
        AIRFLOW_HOME=str(tmp_path / "home"),
        DB_PORT=str(port),
        DB_PASSWORD=password,
        REDIS_URL=private_redis,
        T2A_API_URL=f"http://127.0.0.1:{free_port()}",
        STAGING_URL=(tmp_path / "staging").as_uri(),
        DEMO_DATE="2026-11-26T10:00:00+00:00",
        DEMO_SUBSCRIBERS="50",
    )
    demo = subprocess.run(
        [SCRIPTS / "demo.sh"], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output[-4000:]
    assert "[setup] creating database airflow_meta" in output and "[setup] creating database adaptive_card_db" in output
    progress = re.findall(r"^\[demo\] +(\d+)s  (\S+), (\d+) task\(s\) done$", demo.stdout, re.M)
    assert progress, f"no progress line while `airflow dags test` ran:\n{demo.stdout[-3000:]}"
    assert re.search(r"^\[demo\] the DAG run ended in \d+s$", demo.stdout, re.M)
    card = demo.stdout.split("[demo] one card, as a sales manager reads it in Teams", 1)
    assert len(card) == 2 and card[1].strip(), "the demo did not print a card"
    psql = ["psql", "-w", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "adaptive_card_db", "-tAc"]
    written = subprocess.run(
        [*psql, "SELECT count(*) FROM user_scenario_result"],
        env={**_clean_env(), "PGPASSWORD": password},
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0 and int(written.stdout) > 0, written


def test_only_the_tests_install_a_browser():
    for script in ("setup.sh", "demo.sh", "stack.sh"):
        text = (SCRIPTS / script).read_text(encoding="utf-8")
        assert "apt-get install" not in text and "chromium" not in text.replace("installed by scripts/test.sh", ""), (
            f"scripts/{script} installs a browser; only scripts/test.sh may"
        )
    test_sh = (SCRIPTS / "test.sh").read_text(encoding="utf-8")
    install = test_sh.index("apt-get install -y -qq chromium fonts-noto-cjk")
    assert install < test_sh.index("python -m pytest"), "test.sh must install the browser before pytest"
    # Under pipefail `fc-list | grep -q` fails when grep stops early (SIGPIPE): it reinstalled every run.
    assert not re.search(r"\| *grep -q", test_sh), "test.sh: `| grep -q` under pipefail"


def _plan(*args: str, **settings: str) -> subprocess.CompletedProcess:
    env = _clean_env(AIRFLOW_HOME=tempfile.gettempdir() + "/acp-plan-home", **settings)
    return subprocess.run(
        [SCRIPTS / "stack.sh", "plan", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _planned(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


@pytest.mark.parametrize(
    ("url", "args", "standin_port"),
    [
        (None, (), 8765),  # env.sh's local default
        ("http://127.0.0.1:9911", (), 9911),
        ("http://localhost:8765/", (), 8765),
        ("https://t2a.example.com", (), None),  # a real T2A: no stand-in
        ("http://10.1.2.3:8765", (), None),
        ("http://127.0.0.1:8765", ("--no-standin",), None),  # a real T2A tunnelled to this host
        ("http://localhost:7000", ("--standin",), 7000),
    ],
)
def test_stack_starts_the_standin_only_when_t2a_api_url_names_it(url, args, standin_port):
    planned = _planned(_plan(*args, **({"T2A_API_URL": url} if url else {})))
    assert {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "worker-sales",
        "worker-adaptive",
        "flower",
    } <= set(planned)
    if standin_port is None:
        assert "t2a-standin" not in planned
    else:
        assert planned["t2a-standin"].split() == [
            "python", "-m", "t2a_standin", "--host", "127.0.0.1", "--port", str(standin_port), "--token-env", "T2A_TOKEN",
        ]  # fmt: skip


def test_stack_refuses_a_standin_for_a_remote_t2a():
    refused = _plan("--standin", T2A_API_URL="https://t2a.example.com")
    assert refused.returncode == 2 and "not on this host" in refused.stderr
    assert _plan("--standby").returncode == 2


def test_stack_and_compose_name_the_workers_alike():
    planned = _planned(_plan())
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))["services"]
    for worker in ("worker-sales", "worker-adaptive"):
        stack_name = re.search(r"--celery-hostname (\S+)", planned[worker]).group(1)
        compose_name = re.search(r"--celery-hostname (\S+)", compose[worker]["command"]).group(1)
        assert stack_name == compose_name, (worker, stack_name, compose_name)
