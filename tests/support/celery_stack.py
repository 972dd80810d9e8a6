"""The real Celery stack for the system tests: `scripts/stack.sh` on free ports with its own
metadata database, broker key prefix (in a Redis database the test session claimed), card
store and staging area, and what the tests assert about it (which worker ran each task, what
the card store holds)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import requests

from include import card_store
from include.config import DAG_ID
from tests.support import ROOT, free_port

if TYPE_CHECKING:
    from tests.conftest import RedisDb

ARTIFACTS = ROOT / "artifacts"
SUBSCRIBERS = 40
BATCH_SIZE = 15
RUN_TIMEOUT = 180
# The spec (README): org fetches on `sales_org`, scenario batches on `adaptive_card`, the rest
# on Airflow's default queue; worker-sales serves default+sales_org, worker-adaptive the other.
QUEUE_OF = {"fetch_org": "sales_org", "run_scenarios": "adaptive_card"}
WORKER_OF_QUEUE = {"default": "worker-sales", "sales_org": "worker-sales", "adaptive_card": "worker-adaptive"}
EXECUTED = re.compile(
    r"Executing workload in Celery: .*log_path='dag_id=[^/]+/run_id=([^/]+)/"
    r"task_id=([^/]+)/(?:map_index=(\d+)/)?attempt=\d+\.log'"
)  # no map_index: unmapped


def _admin() -> psycopg.Connection:
    return psycopg.connect(
        host=os.environ.get("DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("DB_PORT", "5432")),
        user=os.environ.get("DB_USER", "postgres"),
        dbname="postgres",
        autocommit=True,
    )


def _stack_pids(home: Path, sessions: set[int]) -> list[int]:
    """Processes of the stack: in a component's session (stack.sh runs each with setsid) or
    carrying stack.sh's marker variable for this AIRFLOW_HOME."""
    marker = f"ADAPTIVE_CARD_STACK={home}".encode()
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            session = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[3])
            if session in sessions or marker in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


class MemorySampler(threading.Thread):
    """Peak RSS sum of the stack's processes (ps's RSS: shared pages count once per process)."""

    def __init__(self, home: Path):
        super().__init__(daemon=True)
        self.home, self.peak_mb, self.done, self.sessions = home, 0.0, threading.Event(), set()

    def run(self):
        while not self.done.wait(2):
            for pidfile in (self.home / "run").glob("*.pid"):
                text = pidfile.read_text().strip()
                if text.isdigit():
                    self.sessions.add(int(text))
            total = 0
            for pid in _stack_pids(self.home, self.sessions):
                try:
                    rss = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
                except OSError:
                    continue
                total += int(rss.group(1)) if rss else 0
            self.peak_mb = max(self.peak_mb, total / 1024)


class Stack:
    """A started stack: its environment, REST API session and log folder."""

    def __init__(self, env: dict[str, str], home: Path):
        self.env, self.home = env, home
        self.api = f"http://127.0.0.1:{env['STACK_API_PORT']}"
        self.password = self._admin_password()
        self.http = requests.Session()
        token = self.http.post(
            f"{self.api}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
        )
        assert token.status_code in (200, 201), f"POST /auth/token: {token.status_code} {token.text[:300]}"
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def _admin_password(self) -> str:
        passwords = json.loads(Path(self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())
        return passwords["admin"]

    def local_env(self) -> dict[str, str]:
        """The secrets scripts/setup.sh generated for this stack's AIRFLOW_HOME (T2A token,
        Flower's basic auth, …)."""
        return dict(line.split("=", 1) for line in (self.home / "local.env").read_text().splitlines())

    def standin(self, method: str, path: str, body=None) -> dict:
        """The stack's T2A stand-in admin API (its token is the stack's generated local secret)."""
        response = requests.request(
            method,
            self.env["T2A_API_URL"] + path,
            json=body,
            headers={"Authorization": f"Bearer {self.local_env()['T2A_TOKEN']}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.http.request(method, f"{self.api}/api/v2{path}", timeout=30, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        """An `airflow` CLI command against this stack (same env.sh, same metadata database)."""
        script = '. scripts/env.sh && exec airflow "$@"'
        return subprocess.run(
            ["bash", "-c", script, "airflow", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def runs(self, **params) -> list[dict]:
        return self.call("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100, **params})["dag_runs"]

    def task_instances(self, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"
        ]

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                assert run["state"] == "success", f"run {run_id} failed:\n{self.failure_report(run_id)}"
                return run
            time.sleep(2)
        raise AssertionError(f"run {run_id} not finished after {timeout}s:\n{self.failure_report(run_id)}")

    def failure_report(self, run_id: str) -> str:
        lines = []
        for ti in self.task_instances(run_id):
            lines.append(f"  {ti['task_id']}[{ti['map_index']}] {ti['state']} queue={ti['queue']}")
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed") and ti["try_number"]:
                log = self.call(
                    "GET",
                    f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}",
                    params={"map_index": ti["map_index"]},
                )
                for entry in (log.get("content") or [])[-15:]:
                    errors = [f"{e['exc_type']}: {e['exc_value']}" for e in entry.get("error_detail") or []]
                    lines.append(f"    {entry.get('level', '')} {entry.get('event', '')} {' '.join(errors)}"[:500])
        return "\n".join(lines)

    def executed_on(self) -> dict[tuple[str, str, int], list[str]]:
        """{(run_id, task_id, map_index): [worker components whose log shows it executing]}."""
        executed: dict[tuple[str, str, int], list[str]] = {}
        for worker in ("worker-sales", "worker-adaptive"):
            text = (self.home / "logs" / "stack" / f"{worker}.log").read_text(errors="replace")
            for run_id, task_id, map_index in EXECUTED.findall(text):
                executed.setdefault((run_id, task_id, int(map_index or -1)), []).append(worker)
        return executed

    def restart(self) -> None:
        """`scripts/stack.sh stop`, then `start`, with the same environment: what brings back
        components that exited (stack.sh supervises nothing; compose's `restart: always` would
        restart each container by itself). Runs in flight continue from the metadata database."""
        for action, timeout in (("stop", 120), ("start", 400)):
            done = subprocess.run(
                [str(ROOT / "scripts/stack.sh"), action],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            assert done.returncode == 0, f"stack.sh {action} failed:\n{done.stdout}\n{done.stderr[-4000:]}"
        wait_for_dag(self)

    def wait_until_idle(self, timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.runs(state=["queued", "running"]):
            assert time.monotonic() < deadline, f"runs still active after {timeout}s: {self.runs(state=['running'])}"
            time.sleep(2)


@contextmanager
def running_stack(
    card_store_db: str, broker_db: RedisDb, tmp_path_factory, tag: str = "stack", **settings: str
) -> Iterator[Stack]:
    """`scripts/stack.sh` on free ports with its own metadata database, broker key prefix (in
    ``broker_db``, a Redis database the session claimed) and staging area, plus `settings`
    (more environment, e.g. AIRFLOW__ overrides); stopped and checked to leave no process
    whatever happens. Its logs and metrics go to artifacts/<tag>-logs and
    artifacts/<tag>-metrics.txt."""
    meta_db = f"airflow_meta_{tag}test_{os.getpid()}"  # parallel test sessions never share a stack
    broker_key_prefix = f"acp-{tag}test-{os.getpid()}:"
    home = tmp_path_factory.mktemp("airflow-home")
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{meta_db}" WITH (FORCE)')
    # The session may carry a developer's or another fixture's Airflow settings: the stack
    # derives its own from the variables below (card store and change events stay the fixtures').
    keep = ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER")
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("AIRFLOW__") and k not in keep)
        and k not in ("AIRFLOW_HOME", "AIRFLOW_CONN_T2A_API", "T2A_TOKEN", "T2A_API_URL")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_META_DB": meta_db,
            "DB_NAME": card_store_db,
            "AIRFLOW__CELERY__BROKER_URL": broker_db.url,
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": broker_key_prefix,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # the schedule test unpauses it
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
            "STACK_API_PORT": str(free_port()),
            "STACK_FLOWER_PORT": str(free_port()),
            "STACK_SALES_LOG_PORT": str(free_port()),
            "STACK_ADAPTIVE_LOG_PORT": str(free_port()),
            "STACK_TRIGGER_LOG_PORT": str(free_port()),
            "T2A_API_URL": f"http://127.0.0.1:{free_port()}",
            "STAGING_URL": tmp_path_factory.mktemp("stack-staging").as_uri(),
            "SUBSCRIBER_BATCH_SIZE": str(BATCH_SIZE),
            "T2A_BACKOFF_BASE": "0.05",
            **settings,
        }
    )
    sampler = MemorySampler(home)
    sampler.start()
    started = time.monotonic()
    start_seconds = None
    try:
        start = subprocess.run(
            [str(ROOT / "scripts/stack.sh"), "start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400
        )
        assert start.returncode == 0, f"stack.sh start failed:\n{start.stdout}\n{start.stderr[-4000:]}"
        start_seconds = time.monotonic() - started
        stack = Stack(env, home)
        wait_for_dag(stack)
        yield stack
    finally:
        stop = subprocess.run(
            [str(ROOT / "scripts/stack.sh"), "stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        sampler.done.set()
        sampler.join()
        keep_logs(home, ARTIFACTS / f"{tag}-logs")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{tag}-metrics.txt").write_text(
            f"stack.sh start: {start_seconds or 0:.0f}s; stack up for {time.monotonic() - started:.0f}s;"
            f" peak RSS sum of its processes: {sampler.peak_mb:.0f} MB\n"
        )
        left = _stack_pids(home, sampler.sessions)
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{meta_db}" WITH (FORCE)')
        broker = broker_db.client()
        for key in broker.scan_iter(f"{broker_key_prefix}*"):
            broker.delete(key)
        assert stop.returncode == 0 and not left, f"stack.sh stop left {left}:\n{stop.stderr[-2000:]}"


def wait_for_dag(stack: Stack, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.http.get(f"{stack.api}/api/v2/dags/{DAG_ID}", timeout=30).ok:
            return
        errors = stack.call("GET", "/importErrors")["import_errors"]
        assert not errors, f"DAG import errors: {errors[0]['filename']}\n{errors[0]['stack_trace']}"
        time.sleep(2)
    raise AssertionError(f"{DAG_ID} did not appear within {timeout}s")


def keep_logs(home: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    if (home / "logs" / "stack").is_dir():
        shutil.copytree(home / "logs" / "stack", target)


TICK_GUARD = timedelta(minutes=6)  # longer than any single test here takes on a quiet machine


def latest_tick(now: datetime) -> datetime:
    """The newest `0 */2 * * *` (UTC) boundary at or before now."""
    return now.replace(hour=now.hour - now.hour % 2, minute=0, second=0, microsecond=0)


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_ran_on_celery(stack: Stack, run_id: str, fetches: int, batches: int) -> None:
    tis = stack.task_instances(run_id)
    assert sorted(ti["state"] for ti in tis) == ["success"] * len(tis), stack.failure_report(run_id)
    mapped = {task: sorted(ti["map_index"] for ti in tis if ti["task_id"] == task) for task in QUEUE_OF}
    assert mapped == {"fetch_org": list(range(fetches)), "run_scenarios": list(range(batches))}, mapped
    executed = stack.executed_on()
    for ti in tis:
        key = (run_id, ti["task_id"], ti["map_index"])
        queue = QUEUE_OF.get(ti["task_id"], "default")
        assert ti["queue"] == queue and ti["hostname"], (key, ti["queue"], ti["hostname"])
        assert executed.get(key) == [WORKER_OF_QUEUE[queue]], (
            f"{key} on queue {queue}: executed by {executed.get(key)}, want {WORKER_OF_QUEUE[queue]}"
        )


def card_store_state(run_id: str) -> dict:
    """What assert_card_store checks, read now: the run's pipeline_run row and every card."""
    pg = card_store.hook()
    row = pg.get_first(
        "SELECT status, data_interval_end, subscribers_served, dead_letters FROM pipeline_run WHERE run_id = %s",
        parameters=(run_id,),
    )
    cards = pg.get_records(
        "SELECT user_id, run_id, data_interval_end, pages->'overview'->>'as_of' FROM user_scenario_result"
    )
    return {"run": row, "cards": cards}


def assert_card_store(run_id: str, interval_end: datetime, users: set[str], state: dict | None = None) -> None:
    """pipeline_run says success for this interval, and the cards are exactly these users'.
    ``state``: the card store as card_store_state(run_id) read it earlier (default: now)."""
    state = state or card_store_state(run_id)
    row, cards = state["run"], state["cards"]
    assert row == ("success", interval_end, len(users), 0), (run_id, row)
    assert sorted(c[0] for c in cards) == sorted(users)
    assert {(c[1], c[2]) for c in cards} == {(run_id, interval_end)}
    assert {parse_ts(c[3]) for c in cards} == {interval_end}
