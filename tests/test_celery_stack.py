"""The DAG for real: `scripts/stack.sh` (api-server, scheduler, dag-processor, triggerer, one
Celery worker per queue over Redis, Flower, the T2A stand-in) on PostgreSQL metadata, driven
through every entry point an operator uses — the schedule, a REST trigger with params,
`airflow backfill create` and the UI's trigger form (headless Debian Chromium via Playwright).

Every test checks that each task instance ran on the Celery worker that serves its queue (the
REST API's queue/hostname fields and the worker's own log) and that the card store holds
exactly what the run implies. One stack serves the module: it runs on free ports with its own
metadata database, Celery broker database, card store and staging area, so it never meets a
developer's stack, and it is stopped (and checked to leave no process) even when a test fails.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis
import requests

from include import card_store
from t2a_standin import seed
from t2a_standin.data import Dataset, preset

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
DAG_ID = "adaptive_card_pipeline"
BROKER_REDIS_DB = 14
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
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def wait_until_idle(self, timeout: float = RUN_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.runs(state=["queued", "running"]):
            assert time.monotonic() < deadline, f"runs still active after {timeout}s: {self.runs(state=['running'])}"
            time.sleep(2)


@contextmanager
def running_stack(card_store_db: str, tmp_path_factory, tag: str = "stack", **settings: str) -> Iterator[Stack]:
    """`scripts/stack.sh` on free ports with its own metadata database, broker key prefix and
    staging area, plus `settings` (more environment, e.g. AIRFLOW__ overrides); stopped and
    checked to leave no process whatever happens. Its logs and metrics go to
    artifacts/<tag>-logs and artifacts/<tag>-metrics.txt."""
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
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_REDIS_DB}",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": broker_key_prefix,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # the schedule test unpauses it
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
            "STACK_API_PORT": str(_free_port()),
            "STACK_FLOWER_PORT": str(_free_port()),
            "STACK_SALES_LOG_PORT": str(_free_port()),
            "STACK_ADAPTIVE_LOG_PORT": str(_free_port()),
            "STACK_TRIGGER_LOG_PORT": str(_free_port()),
            "T2A_API_URL": f"http://127.0.0.1:{_free_port()}",
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
        _wait_for_dag(stack)
        yield stack
    finally:
        stop = subprocess.run(
            [str(ROOT / "scripts/stack.sh"), "stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        sampler.done.set()
        sampler.join()
        _keep_logs(home, ARTIFACTS / f"{tag}-logs")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{tag}-metrics.txt").write_text(
            f"stack.sh start: {start_seconds or 0:.0f}s; stack up for {time.monotonic() - started:.0f}s;"
            f" peak RSS sum of its processes: {sampler.peak_mb:.0f} MB\n"
        )
        left = _stack_pids(home, sampler.sessions)
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{meta_db}" WITH (FORCE)')
        broker = redis.Redis(db=BROKER_REDIS_DB)
        for key in broker.scan_iter(f"{broker_key_prefix}*"):
            broker.delete(key)
        assert stop.returncode == 0 and not left, f"stack.sh stop left {left}:\n{stop.stderr[-2000:]}"


@pytest.fixture(scope="module")
def stack(card_store_db, redis_db, tmp_path_factory):
    with running_stack(card_store_db, tmp_path_factory) as started:
        yield started


def _wait_for_dag(stack: Stack, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.http.get(f"{stack.api}/api/v2/dags/{DAG_ID}", timeout=30).ok:
            return
        errors = stack.call("GET", "/importErrors")["import_errors"]
        assert not errors, f"DAG import errors: {errors[0]['filename']}\n{errors[0]['stack_trace']}"
        time.sleep(2)
    raise AssertionError(f"{DAG_ID} did not appear within {timeout}s")


def _keep_logs(home: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    if (home / "logs" / "stack").is_dir():
        shutil.copytree(home / "logs" / "stack", target)


@pytest.fixture(scope="module")
def subscribers(stack):
    """Seeded subscribers for the stand-in's data set: {user_id: sales_org_cd}."""
    pg = card_store.hook()
    seed.seed(pg, Dataset(preset("small")), SUBSCRIBERS)
    return dict(pg.get_records("SELECT user_id, sales_org_cd FROM card_subscriber WHERE active"))


@pytest.fixture(scope="module")
def live_dag(stack):
    """The DAG unpaused (runs of a paused DAG never start) with no run in flight."""
    stack.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    deadline = time.monotonic() + 60
    while not stack.runs(run_type=["scheduled"]):  # unpausing always schedules the latest interval
        assert time.monotonic() < deadline, "no scheduled run 60 s after unpausing"
        time.sleep(1)
    stack.wait_until_idle()
    return stack


TICK_GUARD = timedelta(minutes=6)  # longer than any single test here takes on a quiet machine


@pytest.fixture
def clear_of_schedule_tick(live_dag):
    """Start a test only when no 2-hourly tick can fire during it: a scheduled run of a new
    interval would write newer cards than the test's own runs. Near a tick, wait it out."""
    now = datetime.now(UTC)
    tick = _latest_tick(now) + timedelta(hours=2)
    if tick - now < TICK_GUARD:
        time.sleep((tick - now).total_seconds() + 30)
        live_dag.wait_until_idle()
    return live_dag


@pytest.fixture
def clean_cards(subscribers):
    """Empty result tables before each test, so each sees only its own runs' writes."""
    card_store.hook().run("TRUNCATE user_scenario_result, pipeline_run, pipeline_dead_letter, card_change_outbox")


def _latest_tick(now: datetime) -> datetime:
    """The newest `0 */2 * * *` (UTC) boundary at or before now."""
    return now.replace(hour=now.hour - now.hour % 2, minute=0, second=0, microsecond=0)


def _ts(value: str) -> datetime:
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


def assert_card_store(run_id: str, interval_end: datetime, users: set[str]) -> None:
    """pipeline_run says success for this interval, and the cards are exactly these users'."""
    pg = card_store.hook()
    row = pg.get_first(
        "SELECT status, data_interval_end, subscribers_served, dead_letters FROM pipeline_run WHERE run_id = %s",
        parameters=(run_id,),
    )
    assert row == ("success", interval_end, len(users), 0), (run_id, row)
    cards = pg.get_records(
        "SELECT user_id, run_id, data_interval_end, pages->'overview'->>'as_of' FROM user_scenario_result"
    )
    assert sorted(c[0] for c in cards) == sorted(users)
    assert {(c[1], c[2]) for c in cards} == {(run_id, interval_end)}
    assert {_ts(c[3]) for c in cards} == {interval_end}


def test_schedule_creates_the_latest_interval_run_when_unpaused(stack, subscribers, clean_cards):
    before = _latest_tick(datetime.now(UTC))
    stack.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    deadline = time.monotonic() + 60
    while not (scheduled := stack.runs(run_type=["scheduled"])):
        assert time.monotonic() < deadline, "no scheduled run 60 s after unpausing"
        time.sleep(1)
    (run,) = scheduled
    interval_end = _ts(run["data_interval_end"])
    assert interval_end in {before, _latest_tick(datetime.now(UTC))}, run
    stack.wait_for_run(run["dag_run_id"])

    orgs = len(set(subscribers.values()))
    assert_ran_on_celery(stack, run["dag_run_id"], fetches=orgs, batches=math.ceil(SUBSCRIBERS / BATCH_SIZE))
    assert_card_store(run["dag_run_id"], interval_end, set(subscribers))


def test_rest_trigger_with_params_runs_only_the_chosen_org(clear_of_schedule_tick, live_dag, subscribers, clean_cards):
    org = sorted(set(subscribers.values()))[1]
    users = {u for u, o in subscribers.items() if o == org}
    logical = datetime(2026, 11, 27, 6, tzinfo=UTC)
    run = live_dag.call(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={
            "dag_run_id": "rest__stacktest",
            "logical_date": logical.isoformat(),
            "conf": {"sales_orgs": [org], "batch_size": 2},
        },
    )
    assert run["run_type"] == "manual" and run["conf"]["sales_orgs"] == [org]
    live_dag.wait_for_run(run["dag_run_id"])

    assert_ran_on_celery(live_dag, run["dag_run_id"], fetches=1, batches=math.ceil(len(users) / 2))
    assert_card_store(run["dag_run_id"], logical, users)


def test_backfill_runs_each_interval_and_keeps_the_newest_cards(
    clear_of_schedule_tick, live_dag, subscribers, clean_cards
):
    newest = _latest_tick(datetime.now(UTC)) - timedelta(hours=6)
    intervals = [newest - timedelta(hours=4), newest - timedelta(hours=2), newest]
    # One at a time, like the DAG's max_active_runs=1 (a backfill has its own limit, default 10).
    made = live_dag.airflow(
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        intervals[0].isoformat(),
        "--to-date",
        newest.isoformat(),
        "--max-active-runs",
        "1",
    )
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    runs = live_dag.runs(run_type=["backfill"])
    assert sorted(_ts(r["data_interval_end"]) for r in runs) == intervals, runs
    for run in sorted(runs, key=lambda r: r["data_interval_end"]):
        live_dag.wait_for_run(run["dag_run_id"])

    orgs = len(set(subscribers.values()))
    for run in runs:
        assert_ran_on_celery(live_dag, run["dag_run_id"], fetches=orgs, batches=math.ceil(SUBSCRIBERS / BATCH_SIZE))
    pg = card_store.hook()
    by_interval = dict(
        pg.get_records(
            "SELECT data_interval_end, run_id FROM pipeline_run WHERE status = 'success' AND subscribers_served = %s",
            parameters=(SUBSCRIBERS,),
        )
    )
    assert by_interval == {_ts(r["data_interval_end"]): r["dag_run_id"] for r in runs}
    assert_card_store(by_interval[newest], newest, set(subscribers))


@pytest.fixture
def chromium(tmp_path):
    """Headless Debian Chromium driven by Playwright (its own browser downloads are not used)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install -y chromium"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1400, "height": 1000},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_ui_trigger_form_shows_the_params_and_its_run_succeeds(
    clear_of_schedule_tick, live_dag, subscribers, clean_cards, chromium
):
    from playwright.sync_api import expect

    page, api = chromium, live_dag.api
    org = sorted(set(subscribers.values()))[2]
    users = {u for u, o in subscribers.items() if o == org}
    run_id = "ui__stacktest"
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{api}/dags/{DAG_ID}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(live_dag.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dags/{DAG_ID}", timeout=30_000)
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog").filter(has_text="Trigger Dag")
    expect(form.get_by_text("Run Parameters")).to_be_visible()
    labels = [text.split("\n")[0] for text in form.locator("label").all_inner_texts()]
    for title in ("Sales organizations", "Users", "Batch size", "Force rewrite"):
        assert title in labels, f"trigger form lacks the param titled {title!r}; labels: {labels}"
    form.locator("textarea[name=element_sales_orgs]").fill(org)
    form.locator("input[name=element_batch_size]").fill("2")
    page.screenshot(path=ARTIFACTS / "ui-1-trigger-params.png")
    form.get_by_role("button", name="Advanced Options").click()
    form.locator("input[name=dagRunId]").fill(run_id)
    page.screenshot(path=ARTIFACTS / "ui-2-trigger-run-id-and-conf.png")
    form.get_by_role("button", name="Trigger", exact=True).click()

    deadline = time.monotonic() + 30
    while not live_dag.http.get(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", timeout=30).ok:
        assert time.monotonic() < deadline, f"the UI's trigger created no run {run_id}"
        time.sleep(1)
    run = live_dag.wait_for_run(run_id)
    assert run["run_type"] == "manual" and run["triggering_user_name"] == "admin"
    assert (run["conf"]["sales_orgs"], run["conf"]["batch_size"]) == ([org], 2), run["conf"]

    page.goto(f"{api}/dags/{DAG_ID}/runs/{run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=30_000)
    page.screenshot(path=ARTIFACTS / "ui-3-run-succeeded.png")
    assert_ran_on_celery(live_dag, run_id, fetches=1, batches=math.ceil(len(users) / 2))
    assert_card_store(run_id, _ts(run["data_interval_end"]), users)
