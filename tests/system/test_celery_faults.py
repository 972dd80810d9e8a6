"""Crash safety on the real Celery stack (`scripts/stack.sh`), where a crash is a lost worker
process or a restarted PostgreSQL server rather than a killed `airflow dags test`: Airflow
itself must notice and retry, and the card store must end exactly like a clean run. Also the
stale-XCom trap of a shrinking re-run (a run cleared through the REST API after an
organization lost all its subscribers), and the operators' dead-letter replay through the
REST API (`acp dead-letters replay` with AIRFLOW_API_URL set).

The stack is the one `tests/system/test_celery_stack.py` builds (own metadata database, ports,
broker keys, staging), with `[scheduler] task_instance_heartbeat_timeout` lowered so a task
whose worker died is detected in seconds instead of 5 minutes. Each test starts from empty
result tables and puts back what it changes, so each runs alone or in any order. Each test
adds a fault-table row.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime

import psutil
import psycopg
import pytest

from include import card_store
from include.config import DAG_ID
from include.ops import cli
from tests.conftest import DB_HOST, DB_PORT, DB_USER
from tests.support import fault_table
from tests.support.celery_stack import RUN_TIMEOUT, SUBSCRIBERS, Stack, assert_card_store, running_stack
from tests.support.dag_runs import card_table

HEARTBEAT_TIMEOUT = 15  # s; the supervisor heartbeats every [workers] min_heartbeat_interval (1 s)
BLOCK_TIMEOUT = 150  # s for a triggered run to reach its card write


@pytest.fixture(scope="module")
def stack(card_store_db, redis_db, stack_broker, tmp_path_factory):
    # A yearly schedule: no new interval can start mid-test and write newer cards than the
    # runs under test (the latest interval still runs once when live_dag unpauses).
    with running_stack(
        card_store_db,
        stack_broker,
        tmp_path_factory,
        tag="celery-faults",
        CRON_SPEC="0 0 1 1 *",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="2",
    ) as started:
        yield started


def _trigger(stack: Stack, run_id: str, logical: datetime, conf: dict | None = None) -> dict:
    return stack.call(
        "POST",
        f"/dags/{DAG_ID}/dagRuns",
        json={"dag_run_id": run_id, "logical_date": logical.isoformat(), "conf": conf or {}},
    )


def _hold_card_writes(stack: Stack, run_id: str, dbname: str) -> psycopg.Connection:
    """Lock the cards table against writes, in a connection of the test, as soon as the run's
    plan_run has finished: plan_run itself deletes withdrawn cards from that table and must not
    be held (the batches come several tasks later). Closing the connection releases it."""
    deadline = time.monotonic() + BLOCK_TIMEOUT
    while True:
        states = {ti["task_id"]: ti["state"] for ti in stack.task_instances(run_id)}
        if states.get("plan_run") == "success":
            break
        assert states.get("plan_run") not in ("failed", "upstream_failed"), stack.failure_report(run_id)
        assert time.monotonic() < deadline, f"plan_run of {run_id} not done in {BLOCK_TIMEOUT}s: {states}"
        time.sleep(0.2)
    assert states.get("run_scenarios") in (None, "scheduled", "queued"), f"batches already under way: {states}"
    lock = psycopg.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, dbname=dbname)
    lock.execute("LOCK TABLE user_scenario_result IN SHARE ROW EXCLUSIVE MODE")
    return lock


def _blocked_backends(stack: Stack, run_id: str, dbname: str) -> list[tuple[int, int]]:
    """(backend pid, client port) of card-store sessions waiting for a lock on the cards table,
    polled until one shows up (bounded; fails early if the run ends)."""
    pg = card_store.hook()
    deadline = time.monotonic() + BLOCK_TIMEOUT
    while time.monotonic() < deadline:
        waiting = pg.get_records(
            "SELECT pid, client_port FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
            " AND query ILIKE %s",
            parameters=(dbname, "%user_scenario_result%incoming%"),  # a batch's card write
        )
        if waiting:
            return [tuple(w) for w in waiting]
        state = stack.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        assert state not in ("success", "failed"), f"run {run_id} ended ({state}) without blocking on the lock"
        time.sleep(0.5)
    raise AssertionError(
        f"no batch of {run_id} waited on the lock within {BLOCK_TIMEOUT}s:\n{stack.failure_report(run_id)}"
    )


def _task_process_of(stack: Stack, client_port: int) -> psutil.Process:
    """The adaptive worker's task process whose PostgreSQL connection uses this client port."""
    worker_pid = int((stack.home / "run" / "worker-adaptive.pid").read_text())
    session = os.getsid(worker_pid)
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) != session:
                continue
            if any(
                c.laddr and c.laddr.port == client_port and c.raddr and c.raddr.port == DB_PORT
                for c in proc.net_connections(kind="tcp")
            ):
                return proc
        except (psutil.Error, ProcessLookupError):
            continue
    raise AssertionError(f"no process of worker-adaptive (session {session}) owns client port {client_port}")


def _wait_backend_gone(backend_pid: int, timeout: float = 30) -> None:
    pg = card_store.hook()
    deadline = time.monotonic() + timeout
    while pg.get_first("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", parameters=(backend_pid,))[0]:
        assert time.monotonic() < deadline, f"backend {backend_pid} of the killed task still there after {timeout}s"
        time.sleep(0.2)


def _how_noticed(stack: Stack, run_id: str) -> str:
    """Which scheduler path failed the killed try: Celery's lost-worker event or the heartbeat timeout."""
    lines = [
        line
        for line in (stack.home / "logs" / "stack" / "scheduler.log").read_text(errors="replace").splitlines()
        if run_id in line and "run_scenarios" in line
    ]
    paths = {
        "executor event": "finished with state failed, but the task instance's state attribute is running",
        "heartbeat timeout": "Detected a task instance without a heartbeat",
    }
    return ", ".join(name for name, text in paths.items() if any(text in line for line in lines)) or "unknown"


def _run_row(run_id: str) -> dict:
    keys = ("status", "orgs_fetched", "subscribers_served", "cards_written", "cards_unchanged", "dead_letters")
    row = card_store.hook().get_first(
        f"SELECT {', '.join(keys)} FROM pipeline_run WHERE run_id = %s", parameters=(run_id,)
    )
    assert row, f"no pipeline_run row for {run_id}"
    return dict(zip(keys, row))


def test_worker_killed_mid_batch_is_retried_to_a_clean_result(live_dag, subscribers, clean_cards, card_store_db):
    """A scenario batch blocked inside its card transaction loses its Celery pool process."""
    stack, pg = live_dag, card_store.hook()
    run_id, logical = "kill__celeryfaults", datetime(2026, 11, 26, 8, tzinfo=UTC)
    # One batch for everyone: the blocked transaction holds the whole run's cards.
    _trigger(stack, run_id, logical, {"batch_size": SUBSCRIBERS})
    lock = _hold_card_writes(stack, run_id, card_store_db)
    try:
        (backend, client_port), *others = _blocked_backends(stack, run_id, card_store_db)
        assert not others, f"more than one batch waiting: {others}"
        visible_blocked = pg.get_first(
            "SELECT count(*) FROM user_scenario_result WHERE run_id = %s", parameters=(run_id,)
        )[0]
        task = _task_process_of(stack, client_port)
        pool = task.parent()
        worker_pid = int((stack.home / "run" / "worker-adaptive.pid").read_text())
        assert pool.ppid() == worker_pid, f"{pool.pid} ({pool.cmdline()}) is not a pool process of {worker_pid}"
        killed = " ".join(task.cmdline()).strip()  # "airflow worker -- <task instance id>"
        for proc in (pool, task):  # the supervisor first: it must not report anything
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        lock.rollback()
        lock.close()
    _wait_backend_gone(backend)  # its UPDATE gets the lock, then finds no client and aborts
    visible_after_kill = pg.get_first(
        "SELECT count(*) FROM user_scenario_result WHERE run_id = %s", parameters=(run_id,)
    )[0]

    stack.wait_for_run(run_id, timeout=RUN_TIMEOUT + HEARTBEAT_TIMEOUT + 60)
    (batch,) = [ti for ti in stack.task_instances(run_id) if ti["task_id"] == "run_scenarios"]
    tries = stack.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/run_scenarios/0/tries")
    first_try = [t["state"] for t in tries["task_instances"] if t["try_number"] == 1]
    events = pg.get_records(
        "SELECT user_id, count(*) FROM card_change_outbox WHERE run_id = %s GROUP BY user_id", parameters=(run_id,)
    )
    run = _run_row(run_id)
    observed = (
        f"killed pool {pool.pid} + {killed!r} (noticed by: {_how_noticed(stack, run_id)});"
        f" rows visible while blocked {visible_blocked}, after kill"
        f" {visible_after_kill}; batch try_number {batch['try_number']} (try 1: {first_try}); run"
        f" {run['status']}, {run['cards_written']} written; events {len(events)} for"
        f" {len(subscribers)} users, max per user {max((n for _, n in events), default=0)}"
    )
    holds = (
        visible_blocked == visible_after_kill == 0
        and batch["try_number"] >= 2
        and first_try == ["failed"]
        and run["cards_written"] == len(subscribers)
        and sorted(u for u, _ in events) == sorted(subscribers)
        and {n for _, n in events} == {1}
    )
    fault_table.record(
        "Celery pool process SIGKILLed inside a batch's card transaction (real stack)",
        "nothing visible; Airflow notices, retries; one row per subscriber, one event each",
        observed,
        holds,
    )
    assert holds, observed
    assert_card_store(run_id, logical, set(subscribers))


def test_shrinking_rerun_merges_only_this_attempts_orgs(live_dag, subscribers, clean_cards):
    """Clear a finished run after one organization lost all its subscribers: fetch_org maps over
    one org fewer, and the merge must not pick up the removed map index's old XCom. The
    deactivated readers' cards are withdrawn (deleted, one 'withdrawn' event each); every other
    card stays as it was."""
    stack, pg = live_dag, card_store.hook()
    run_id, logical = "shrink__celeryfaults", datetime(2026, 11, 26, 10, tzinfo=UTC)
    orgs = sorted(set(subscribers.values()))
    gone = orgs[0]  # every later org moves down one map index
    kept = orgs[1:]
    _trigger(stack, run_id, logical)
    stack.wait_for_run(run_id)
    first = _run_row(run_id)
    assert (first["status"], first["orgs_fetched"]) == ("success", len(orgs)), first
    before = card_table(pg)
    assert {r[2] for r in before} == set(orgs), "every org needs cards before the re-run"

    pg.run("UPDATE card_subscriber SET active = false WHERE sales_org_cd = %s", parameters=(gone,))
    try:
        stack.call(
            "POST",
            f"/dags/{DAG_ID}/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True},
        )
        state = stack.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
        assert state in ("queued", "running"), f"run {run_id} is {state} right after the clear"
        stack.wait_for_run(run_id)
    finally:
        pg.run("UPDATE card_subscriber SET active = true WHERE sales_org_cd = %s", parameters=(gone,))

    again = _run_row(run_id)
    tis = stack.task_instances(run_id)
    fetches = {ti["map_index"]: ti["state"] for ti in tis if ti["task_id"] == "fetch_org"}
    merge_ti = next(ti for ti in tis if ti["task_id"] == "merge_extracts")
    merged = stack.call(
        "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/merge_extracts/xcomEntries/return_value"
    )["value"]
    log = stack.call(
        "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/merge_extracts/logs/{merge_ti['try_number']}"
    )
    merge_lines = [e.get("event", "") for e in log.get("content") or [] if e.get("event", "").startswith("merged ")]
    index_orgs = {tuple(sorted(part["orgs"])) for part in merged["index"].values()}  # one set per merged file
    stale = stack.http.get(
        f"{stack.api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/fetch_org/xcomEntries/return_value",
        params={"map_index": len(orgs) - 1},
        timeout=30,
    )
    after = card_table(pg)
    withdrawn = sorted(
        u
        for (u,) in pg.get_records(
            "SELECT user_id FROM card_change_outbox WHERE run_id = %s AND change = 'withdrawn'", parameters=(run_id,)
        )
    )
    served = len([u for u, o in subscribers.items() if o != gone])
    observed = (
        f"{len(orgs)} -> {len(kept)} orgs ({gone} deactivated); fetch_org states {fetches};"
        f" removed index's old XCom still there: {stale.ok}; merged {merged['orgs_served']},"
        f" index {sorted(index_orgs)},"
        f" log {merge_lines}; pipeline_run orgs_fetched {again['orgs_fetched']}, served"
        f" {again['subscribers_served']}, written {again['cards_written']}; {gone}'s cards withdrawn"
        f" {len(withdrawn)}, every other card unchanged: {after == [r for r in before if r[2] != gone]}"
    )
    holds = (
        again["status"] == "success"
        and again["orgs_fetched"] == len(kept)
        and merged["orgs_served"] == kept
        and merge_ti["try_number"] >= 2
        and index_orgs == {tuple(kept)}
        and merge_lines
        and all(line.startswith(f"merged {len(kept)} orgs ") for line in merge_lines)
        and fetches == {**dict.fromkeys(range(len(kept)), "success"), len(kept): "removed"}
        and again["subscribers_served"] == again["cards_unchanged"] == served
        and again["cards_written"] == 0
        and after == [r for r in before if r[2] != gone]
        and withdrawn == sorted(r[0] for r in before if r[2] == gone)
    )
    fault_table.record(
        "run cleared via REST after one org lost all subscribers (fan-out N -> N-1)",
        "merge uses exactly this attempt's N-1 orgs; that org's cards withdrawn, one event each; 0 written",
        observed,
        holds,
    )
    assert holds, observed


def _restart_postgres() -> tuple[str, float]:
    """Restart the PostgreSQL server the card store is on — the machine's, which also holds
    Airflow's metadata — as an operator would: pg_ctlcluster (fast mode: open transactions are
    rolled back, every session is cut). Returns the cluster and the seconds until it accepted
    connections again."""
    name = card_store.hook().get_first("SHOW cluster_name")[0]  # Debian's "<version>/<cluster>"
    assert DB_HOST in ("127.0.0.1", "localhost") and re.fullmatch(r"\d+/[\w.-]+", name or ""), (
        f"cannot restart PostgreSQL at {DB_HOST}:{DB_PORT} (cluster_name {name!r}) from this test"
    )
    started = time.monotonic()
    restart = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *name.split("/"), "restart"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert restart.returncode == 0, f"pg_ctlcluster {name} restart: {restart.stdout}{restart.stderr}"
    deadline = time.monotonic() + 60
    while True:
        try:
            psycopg.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, dbname="postgres", connect_timeout=2).close()
            return name, time.monotonic() - started
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, f"PostgreSQL {name} not accepting connections 60 s after its restart"
            time.sleep(0.2)


def _components_down(stack: Stack) -> list[str]:
    """Components of the stack whose process (its pid file's session leader) is gone."""
    down = []
    for pidfile in sorted((stack.home / "run").glob("*.pid")):
        try:
            os.kill(int(pidfile.read_text()), 0)
        except (ProcessLookupError, ValueError):
            down.append(pidfile.stem)
    return down


def test_postgres_restarted_mid_batch_is_retried_to_a_clean_result(live_dag, subscribers, clean_cards, card_store_db):
    """The PostgreSQL server is restarted (pg_ctlcluster) while a scenario batch is inside its
    card transaction (held at its write by a lock the test takes, so the restart surely lands
    mid-batch). The restart also cuts Airflow's own metadata sessions: the scheduler, the
    dag-processor and the triggerer exit on the first failed connection (Airflow has no retry
    around their loops), and stack.sh supervises nothing. The test records which components
    exited and then does what a supervisor does (compose: `restart: always`; locally:
    stack.sh stop + start). From there Airflow must retry the batch and end like a clean run."""
    stack, pg = live_dag, card_store.hook()
    run_id, logical = "pgrestart__celeryfaults", datetime(2026, 11, 26, 12, tzinfo=UTC)
    _trigger(stack, run_id, logical, {"batch_size": SUBSCRIBERS})  # one batch: it holds every card
    lock = _hold_card_writes(stack, run_id, card_store_db)
    try:
        (backend, _), *others = _blocked_backends(stack, run_id, card_store_db)
        assert not others, f"more than one batch waiting: {others}"
        visible_blocked = pg.get_first(
            "SELECT count(*) FROM user_scenario_result WHERE run_id = %s", parameters=(run_id,)
        )[0]
        cluster, seconds = _restart_postgres()
    finally:
        lock.close()  # cut by the restart already
    visible_after_restart = pg.get_first(
        "SELECT count(*) FROM user_scenario_result WHERE run_id = %s", parameters=(run_id,)
    )[0]
    time.sleep(HEARTBEAT_TIMEOUT)  # long enough for every component to hit the database again
    exited = _components_down(stack)
    restarted = time.monotonic()
    if exited:
        stack.restart()
    restart_seconds = time.monotonic() - restarted

    stack.wait_for_run(run_id, timeout=RUN_TIMEOUT + HEARTBEAT_TIMEOUT + 60)
    (batch,) = [ti for ti in stack.task_instances(run_id) if ti["task_id"] == "run_scenarios"]
    tries = stack.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/run_scenarios/0/tries")
    first_try = [t["state"] for t in tries["task_instances"] if t["try_number"] == 1]
    events = pg.get_records(
        "SELECT user_id, count(*) FROM card_change_outbox WHERE run_id = %s GROUP BY user_id", parameters=(run_id,)
    )
    run = _run_row(run_id)
    down_at_end = _components_down(stack)
    observed = (
        f"{cluster} restarted in {seconds:.1f}s, the batch blocked in its card write (backend {backend});"
        f" rows visible while blocked {visible_blocked}, after the restart {visible_after_restart};"
        f" components that exited with it: {', '.join(exited) or 'none'}"
        f"{f' (stack.sh stop + start: {restart_seconds:.0f}s)' if exited else ''}; batch try_number"
        f" {batch['try_number']} (try 1: {first_try}); run {run['status']}, {run['cards_written']} written;"
        f" events {len(events)} for {len(subscribers)} users, max per user {max((n for _, n in events), default=0)};"
        f" components down at the end: {', '.join(down_at_end) or 'none'}"
    )
    holds = (
        visible_blocked == visible_after_restart == 0
        and not down_at_end
        and batch["try_number"] >= 2
        and first_try == ["failed"]
        and run["status"] == "success"
        and run["cards_written"] == len(subscribers)
        and sorted(u for u, _ in events) == sorted(subscribers)
        and {n for _, n in events} == {1}
    )
    fault_table.record(
        "PostgreSQL server restarted (pg_ctlcluster) inside a batch's card transaction (real stack)",
        "nothing visible; components that exit are restarted (supervisor); Airflow retries the batch;"
        " one row per subscriber, one event each",
        observed,
        holds,
    )
    assert holds, observed
    assert_card_store(run_id, logical, set(subscribers))


def test_rest_replay_of_a_fetch_dead_letter_resolves_it(live_dag, subscribers, clean_cards, monkeypatch, capsys):
    """A run with one org failing for good leaves a `fetch` dead letter; with the fault cleared,
    `acp dead-letters replay <id>` with AIRFLOW_API_URL set starts the replay through the REST
    API, waits for it and resolves the row with the replay run's evidence."""
    stack, pg = live_dag, card_store.hook()
    run_id, logical = "replaysource__celeryfaults", datetime(2026, 11, 26, 14, tzinfo=UTC)
    x = sorted(set(subscribers.values()))[1]
    stack.standin("POST", "/_admin/faults", [{"org": x, "query": "SALES_ORG", "kind": "status", "status": 503}])
    try:
        _trigger(stack, run_id, logical)
        stack.wait_for_run(run_id)
    finally:
        stack.standin("DELETE", "/_admin/faults")
    source = _run_row(run_id)
    letters = pg.get_records(
        "SELECT id, item_key FROM pipeline_dead_letter WHERE run_id = %s AND resolved_at IS NULL", parameters=(run_id,)
    )
    assert [key for _, key in letters] == [x], f"dead letters of {run_id}: {letters} (run {source})"
    ((letter_id, _),) = letters

    monkeypatch.setenv("AIRFLOW_API_URL", stack.api)
    monkeypatch.setenv("AIRFLOW_API_USERNAME", "admin")
    monkeypatch.setenv("AIRFLOW_API_PASSWORD", stack.password)
    started = time.monotonic()
    code = cli.main(["dead-letters", "replay", str(letter_id), "--timeout", str(RUN_TIMEOUT)])
    seconds = time.monotonic() - started
    printed = capsys.readouterr().out
    resolved_at, resolution = pg.get_first(
        "SELECT resolved_at, resolution FROM pipeline_dead_letter WHERE id = %s", parameters=(letter_id,)
    )
    replay_id = resolution.removeprefix("replayed by run ") if resolution else ""
    replay = stack.call("GET", f"/dags/{DAG_ID}/dagRuns/{replay_id}") if replay_id.startswith("replay__") else {}
    cards = dict(
        pg.get_records(
            "SELECT user_id, run_id FROM user_scenario_result WHERE sales_org_cd = %s ORDER BY user_id", parameters=(x,)
        )
    )
    users_of_x = sorted(u for u, org in subscribers.items() if org == x)
    observed = (
        f"source run {source['status']} with dead letter {letter_id} ({x}); acp exit {code} after {seconds:.0f}s;"
        f" row: resolved {resolved_at is not None}, {resolution!r}; replay run"
        f" {replay.get('state')} ({replay.get('run_type')}, conf {replay.get('conf')}); {x}'s {len(users_of_x)}"
        f" users' cards from the replay: {sorted(cards) == users_of_x and set(cards.values()) == {replay_id}}"
    )
    holds = (
        source["status"] == "partial"
        and code == 0
        and f"dead letter {letter_id}: replayed by run {replay_id}" in printed
        and resolved_at is not None
        and replay.get("state") == "success"
        and replay.get("run_type") == "manual"
        and replay.get("conf") == {"sales_orgs": [x]}
        and users_of_x
        and sorted(cards) == users_of_x
        and set(cards.values()) == {replay_id}
    )
    fault_table.record(
        f"fetch dead letter ({x}, 503 for good), fault cleared, `acp dead-letters replay` via REST (real stack)",
        "a REST-triggered run for that org; acp waits; the row is resolved by that run, its users' cards from it",
        observed,
        holds,
    )
    assert holds, observed
