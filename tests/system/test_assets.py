"""Following the cards, end to end on real Airflow: plain `airflow dags test
adaptive_card_pipeline` records an event on the card store asset with the run's counts, and a
real scheduler then runs the DAG that follows the asset (tests/dags/downstream/cards_consumer.py,
never deployed) on that event. A partial run records one too; a failed run none.

The module has an Airflow of its own — its own metadata database, a DAGs folder holding the
pipeline and the consumer (so no other test ever sees the consumer), a scheduler with the
LocalExecutor and the execution-API server its tasks report to — up for the whole module, as a
deployment's scheduler is always up: two processes, much cheaper than the Celery stack. The
pipeline stays paused there, so the scheduler runs only what the asset triggers; the runs
themselves are `airflow dags test`, the way a user starts one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest
import requests

from include import card_store, change_events
from include.config import CARD_STORE_ASSET_NAME, CARD_STORE_ASSET_URI, DAG_ID, T2A_POOL, settings
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset
from tests.conftest import CARD_TABLES, DB_HOST, DB_PORT, DB_USER
from tests.support import ARTIFACTS, ROOT, free_port
from tests.support.dag_runs import command, dags_test, environment, pipeline_run, save_log

SUBSCRIBERS = 40
T_SUCCESS = "2026-11-28T10:00:00+00:00"
T_PARTIAL = "2026-11-28T12:00:00+00:00"
T_FAILED = "2026-11-28T14:00:00+00:00"
CONSUMER_FILE = ROOT / "tests" / "dags" / "downstream" / "cards_consumer.py"
CONSUMER = "cards_consumer"
CONSUMER_TASK = "read_card_counts"
CONSUMER_TIMEOUT = 120  # seconds from an event to the end of the consumer's run on it


def _admin() -> psycopg.Connection:
    return psycopg.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, dbname="postgres", autocommit=True)


@pytest.fixture(scope="module")
def world(card_store_db, redis_db, t2a_server, tmp_path_factory):
    """This module's Airflow (metadata database migrated, DAGs folder with the pipeline and the
    consumer, scheduler running) on the session's card store, Redis and T2A stand-in: {"env":
    what every `airflow` command here runs with, "meta": the metadata database's name,
    "staging", "pg"}."""
    meta = f"airflow_meta_assetstest_{os.getpid()}"
    home = tmp_path_factory.mktemp("assets-airflow")
    dags, plugins = home / "dags", home / "plugins"
    dags.mkdir(), plugins.mkdir()
    (dags / "adaptive_card_pipeline.py").symlink_to(ROOT / "dags" / "adaptive_card_pipeline.py")
    (dags / CONSUMER_FILE.name).symlink_to(CONSUMER_FILE)
    password = os.environ.get("DB_PASSWORD")
    auth = DB_USER + (f":{password}" if password else "")
    api_port = free_port()
    env = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{auth}@{DB_HOST}:{DB_PORT}/{meta}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),  # the card preview plays no part here
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # The pipeline stays paused: the scheduler must run only what the asset triggers.
        # (The consumer asks to start unpaused.)
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "ASSETS_API_PORT": str(api_port),
    }
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{meta}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{meta}"')
    staging = tmp_path_factory.mktemp("assets-staging").as_uri()
    try:
        migrate = subprocess.run(
            ["airflow", "db", "migrate"],
            env=environment(staging, **env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, (migrate.stdout + migrate.stderr)[-3000:]
        # fetch_org's pool, as scripts/setup.sh sets it: without it the scheduler never runs a fetch.
        pool = subprocess.run(
            ["airflow", "pools", "set", T2A_POOL, str(settings().max_workers_sales), "T2A org fetches (test)"],
            env=environment(staging, **env),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pool.returncode == 0, (pool.stdout + pool.stderr)[-3000:]
        world = {"env": env, "meta": meta, "staging": staging, "pg": card_store.hook()}
        with scheduler(world):
            yield world
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{meta}" WITH (FORCE)')


@pytest.fixture
def fresh_cards(world, redis_db):
    """The world with empty result tables and change stream and freshly seeded subscribers."""
    pg = world["pg"]
    pg.run(f"TRUNCATE {', '.join(CARD_TABLES)} RESTART IDENTITY")
    redis_db.delete(change_events.STREAM)
    seed.seed(pg, Dataset(DataConfig()), SUBSCRIBERS)
    return world


def meta_rows(world, sql: str, params: tuple = ()) -> list[tuple]:
    password = os.environ.get("DB_PASSWORD")
    with psycopg.connect(
        host=DB_HOST, port=DB_PORT, user=DB_USER, password=password, dbname=world["meta"], autocommit=True
    ) as conn:
        return conn.execute(sql, params).fetchall()


def card_store_events(world, source_run_id: str) -> list[dict]:
    """The card store asset's events a pipeline run recorded, oldest first."""
    rows = meta_rows(
        world,
        "SELECT e.id, e.source_dag_id, e.source_task_id, e.extra FROM asset_event e"
        " JOIN asset a ON a.id = e.asset_id WHERE a.name = %s AND a.uri = %s AND e.source_run_id = %s"
        " ORDER BY e.id",
        (CARD_STORE_ASSET_NAME, CARD_STORE_ASSET_URI, source_run_id),
    )
    return [{"id": r[0], "source": (r[1], r[2]), "extra": r[3]} for r in rows]


def expected_extra(run: dict, interval_end: str, events_published: int) -> dict:
    """The event's extra for a pipeline_run row (run_id, status and every counter)."""
    return {**run, "data_interval_end": interval_end, "events_published": events_published}


def run_pipeline(world, logical_date: str, **env: str) -> dict:
    return dags_test(
        world["pg"],
        world["staging"],
        logical_date,
        log_name=f"assets-dags-test-{logical_date[:13]}.log",
        **world["env"],
        **env,
    )


@contextmanager
def service(world, name: str, *args: str) -> Iterator[subprocess.Popen]:
    """An `airflow` component in its own session, log in artifacts/assets-<name>.log; stopped
    (SIGTERM, then SIGKILL) with every process it started."""
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / f"assets-{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["airflow", *args],
            env=environment(world["staging"], **world["env"]),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        _stop_session(proc)


def _stop_session(proc: subprocess.Popen) -> None:
    """SIGTERM to the component (it stops what it started), then SIGKILL to whatever is left in
    its session: task processes run in process groups of their own, never in sessions."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _session_pids(proc) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _session_pids(proc):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _session_pids(proc) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _session_pids(proc), f"processes of session {proc.pid} survived SIGKILL: {_session_pids(proc)}"


def _session_pids(proc: subprocess.Popen) -> list[int]:
    """Live (not zombie) processes in the session the component leads."""
    proc.poll()  # reap the leader
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == proc.pid:
            pids.append(int(entry.name))
    return pids


@contextmanager
def scheduler(world) -> Iterator[None]:
    """A scheduler (LocalExecutor) on this module's Airflow, and the execution-API server its
    tasks report to (execution app only, on loopback); both stopped on leaving. Neither reads
    DAG files: `airflow dags test` writes both DAGs to the metadata database when it starts."""
    port = world["env"]["ASSETS_API_PORT"]
    api_args = ("api-server", "--apps", "execution", "--host", "127.0.0.1", "--port", port, "--workers", "1")
    with service(world, "api-server", *api_args) as api:
        wait_for_api(world, api)
        # No log server: nothing here reads task logs over HTTP, and it would take port 8793.
        with service(world, "scheduler", "scheduler", "--skip-serve-logs"):
            yield


def wait_for_api(world, api: subprocess.Popen, timeout: float = 120) -> None:
    url = f"http://127.0.0.1:{world['env']['ASSETS_API_PORT']}/execution/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert api.poll() is None, f"the execution API server exited:\n{_tail('api-server')}"
        try:
            if requests.get(url, timeout=30).ok:  # the first answer can take seconds
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"the execution API did not answer within {timeout}s:\n{_tail('api-server')}")


def _tail(name: str) -> str:
    return (ARTIFACTS / f"assets-{name}.log").read_text(errors="replace")[-3000:]


def consumer_run_of(world, event_id: int, timeout: float = CONSUMER_TIMEOUT) -> dict:
    """The consumer's run that consumed this event, once it ended: {run_id, run_type, state,
    events (ids of every event it consumed), returned (its task's XCom), seconds (from the event
    to the run's end)}."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = meta_rows(
            world,
            "SELECT r.run_id, r.run_type, r.state, extract(epoch FROM r.end_date - e.timestamp) FROM dag_run r"
            " JOIN dagrun_asset_event d ON d.dag_run_id = r.id JOIN asset_event e ON e.id = d.event_id"
            " WHERE r.dag_id = %s AND d.event_id = %s",
            (CONSUMER, event_id),
        )
        if rows and rows[0][2] in ("success", "failed"):
            run_id, run_type, state, seconds = rows[0]
            events = meta_rows(
                world,
                "SELECT d.event_id FROM dagrun_asset_event d JOIN dag_run r ON r.id = d.dag_run_id"
                " WHERE r.dag_id = %s AND r.run_id = %s ORDER BY d.event_id",
                (CONSUMER, run_id),
            )
            xcom = meta_rows(
                world,
                "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = 'return_value'",
                (CONSUMER, run_id, CONSUMER_TASK),
            )
            returned = xcom[0][0] if xcom else None
            returned = json.loads(returned) if isinstance(returned, str) else returned
            return {
                "run_id": run_id,
                "run_type": run_type,
                "state": state,
                "events": [e[0] for e in events],
                "returned": returned,
                "seconds": float(seconds),
            }
        time.sleep(2)
    raise AssertionError(f"no finished {CONSUMER} run on event {event_id} after {timeout}s:\n{_tail('scheduler')}")


def test_a_run_records_its_counts_and_the_consumer_runs_on_them(fresh_cards):
    world = fresh_cards
    run = run_pipeline(world, T_SUCCESS)
    assert run["status"] == "success" and run["cards_written"] == SUBSCRIBERS, run
    events = card_store_events(world, run["run_id"])
    assert [e["source"] for e in events] == [(DAG_ID, "finalize")], events
    assert events[0]["extra"] == expected_extra(run, T_SUCCESS, SUBSCRIBERS)

    consumer = consumer_run_of(world, events[0]["id"])
    save_log("assets-timing.txt", f"from the event to the end of the consumer's run: {consumer['seconds']:.1f}s\n")
    assert_consumed(consumer, run["run_id"], events[0])


def test_a_partial_run_records_its_counts_too(fresh_cards):
    world = fresh_cards
    # One subscriber of an organization T2A does not know: a dead letter, the others served.
    world["pg"].run(
        "UPDATE card_subscriber SET sales_org_cd = 'ZZ99' WHERE user_id = (SELECT min(user_id) FROM card_subscriber)"
    )
    run = run_pipeline(world, T_PARTIAL)
    assert run["status"] == "partial" and run["dead_letters"] == 1, run
    assert run["subscribers_served"] == SUBSCRIBERS - 1
    events = card_store_events(world, run["run_id"])
    assert [e["extra"] for e in events] == [expected_extra(run, T_PARTIAL, SUBSCRIBERS - 1)], events
    assert_consumed(consumer_run_of(world, events[0]["id"]), run["run_id"], events[0])


def assert_consumed(consumer: dict, source_run_id: str, event: dict) -> None:
    """The consumer ran on the asset and got exactly this event and its extra."""
    assert consumer["state"] == "success" and consumer["run_type"] == "asset_triggered", consumer
    assert consumer["events"] == [event["id"]], consumer
    assert consumer["returned"] == [{"source_dag_id": DAG_ID, "source_run_id": source_run_id, "extra": event["extra"]}]


def test_a_failed_run_records_no_event(fresh_cards):
    world = fresh_cards
    # T2A unreachable and no retries: resolve_orgs fails the run, finalize records it and raises.
    t2a_down = json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": free_port(), "schema": "http", "password": "unused"}
    )
    proc = subprocess.run(
        command(T_FAILED),
        env=environment(world["staging"], **world["env"], AIRFLOW_CONN_T2A_API=t2a_down, T2A_MAX_ATTEMPTS="1"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    save_log(f"assets-dags-test-{T_FAILED[:13]}.log", proc.stdout + proc.stderr)
    assert proc.returncode != 0, "the run should have failed"
    run = pipeline_run(world["pg"], T_FAILED)
    assert run["status"] == "failed", run
    finalize = meta_rows(
        world,
        "SELECT state FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = 'finalize'",
        (DAG_ID, run["run_id"]),
    )
    assert finalize == [("failed",)], finalize  # it ran, and raised
    assert card_store_events(world, run["run_id"]) == []
