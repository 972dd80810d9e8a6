"""The fault suite: every failure is retried the right number of times, recorded, recoverable,
and never costs a user their cards. Drives the stand-in T2A server's fault switches and real
PostgreSQL, Redis and Airflow (`airflow dags test`); each test adds a row to the table printed
at the end of the session (fault, expected, observed).

Each test starts from the same clean world (``world``: freshly seeded subscribers, empty result
tables and change stream, no fault switched on, an empty staging area of its own) and makes
its own history: a test about what a failing run keeps runs the good run before it itself.
So each test runs alone or in any order.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest
import redis
import requests

from include import card_store, change_events
from include.cards import MAX_CARD_BYTES
from include.pipeline import RUN_TIMEOUT
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset
from t2a_standin.server import serve_in_thread
from tests.conftest import CARD_TABLES, DB_HOST, DB_PORT, DB_USER
from tests.support import fault_table, free_port
from tests.support.dag_runs import (
    ARTIFACTS,
    ROOT,
    card_table,
    command,
    dags_test,
    environment,
    kill_group,
    pipeline_run,
    save_log,
    start_dags_test,
)

SUBSCRIBERS = 80
T = [f"2026-11-27T{hour:02d}:00:00+00:00" for hour in range(0, 24, 2)]
CONFIG = DataConfig(orgs=10)  # 8 ordinary organizations, one without orders, one without data


@pytest.fixture(scope="module")
def standin(t2a_token):
    """The module's stand-in T2A server (CONFIG), with its connection as JSON."""
    with serve_in_thread(CONFIG, t2a_token) as server:
        conn = json.dumps(
            {"conn_type": "http", "host": server.host, "port": server.port, "schema": "http", "password": t2a_token}
        )
        yield server, conn


@pytest.fixture
def world(card_store_db, redis_db, t2a_token, standin, request, tmp_path):
    """A clean world for one test: subscribers seeded afresh, result tables and the change
    stream empty, no fault rule or request count on the stand-in, a new staging area (no last
    good extracts)."""
    server, conn = standin
    pg = card_store.hook()
    pg.run(f"TRUNCATE {', '.join(CARD_TABLES)} RESTART IDENTITY")
    redis_db.delete(change_events.STREAM)
    dataset = Dataset(CONFIG)
    seed.seed(pg, dataset, SUBSCRIBERS)
    served = {r[0] for r in pg.get_records("SELECT DISTINCT sales_org_cd FROM card_subscriber")}
    ordinary = [o["code"] for o in dataset.orgs()][:8]
    assert set(ordinary) <= served, "every ordinary organization needs subscribers"
    (tmp_path / "staging").mkdir()
    world = {
        "pg": pg,
        "redis": redis_db,
        "server": server,
        "token": t2a_token,
        "conn": conn,
        "orgs": ordinary,
        "staging": (tmp_path / "staging").as_uri(),
        "test": request.node.name.removeprefix("test_"),
    }
    admin(world, "DELETE", "/_admin/faults")
    admin(world, "DELETE", "/_admin/stats")
    return world


def admin(world, method: str, path: str, body=None):
    response = requests.request(
        method,
        world["server"].base_url + path,
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {world['token']}"},
    )
    response.raise_for_status()
    return response.json() if response.content else None


def set_faults(world, rules: list[dict]) -> None:
    admin(world, "DELETE", "/_admin/stats")
    admin(world, "POST", "/_admin/faults", rules)


def statuses(world, org: str, query: str) -> list:
    stats = admin(world, "GET", "/_admin/stats")["requests"]
    return sorted((r["status"], r["count"]) for r in stats if r["org"] == org and r["query"] == query)


def run(world, logical_date: str, **env: str) -> dict:
    return dags_test(
        world["pg"],
        world["staging"],
        logical_date,
        log_name=log_name(world, logical_date),
        AIRFLOW_CONN_T2A_API=world["conn"],
        **env,
    )


def run_to_failure(world, logical_date: str, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    """A run expected to fail: `airflow dags test`'s process (its exit status is not asserted
    here) and the run's pipeline_run row."""
    proc = subprocess.run(
        command(logical_date),
        env=environment(world["staging"], AIRFLOW_CONN_T2A_API=world["conn"], **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    save_log(log_name(world, logical_date), proc.stdout + proc.stderr)
    return proc, pipeline_run(world["pg"], logical_date)


def run_row(pg, logical_date: str) -> dict:
    """The newest run of that interval with its status and times (pipeline_run)."""
    return card_store.runs.latest_run(pg, datetime.fromisoformat(logical_date))


def log_name(world, logical_date: str) -> str:
    """The `dags test` output of a run: artifacts/faults-<test>-<interval>.log."""
    return f"faults-{world['test']}-{logical_date[:13]}.log"


def good_run(world, logical_date: str) -> dict:
    """A run with no fault switched on, as the history a test builds on; it must succeed."""
    set_faults(world, [])
    result = run(world, logical_date)
    assert result["status"] == "success" and result["cards_written"] == SUBSCRIBERS, result
    return result


def rows_of(pg, org: str) -> list[tuple]:
    return [r for r in card_table(pg) if r[2] == org]


def dead_letters(pg, run_id: str, stage: str) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in pg.get_records(
            "SELECT item_key, error, attempts, payload FROM pipeline_dead_letter WHERE run_id = %s AND stage = %s",
            parameters=(run_id, stage),
        )
    }


def test_transient_bursts_are_recovered(world):
    a, b, c = world["orgs"][:3]
    set_faults(
        world,
        [
            {"org": a, "query": "SALES_ORG", "kind": "status", "status": 429, "retry_after": 1, "times": 2},
            {"org": b, "query": "SALES_TOTAL", "kind": "status", "status": 503, "times": 3},
            {"org": c, "query": "ORDER_STATUS", "kind": "drop", "times": 1},
        ],
    )
    result = run(world, T[0])
    observed = (
        f"status {result['status']}, cards {result['cards_written']}, dead letters {result['dead_letters']};"
        f" {a} SALES_ORG {statuses(world, a, 'SALES_ORG')}"
    )
    holds = (
        result["status"] == "success"
        and result["cards_written"] == SUBSCRIBERS
        and result["dead_letters"] == 0
        and statuses(world, a, "SALES_ORG") == [(200, 1), (429, 2)]
        and statuses(world, b, "SALES_TOTAL") == [(200, 1), (503, 3)]
    )
    fault_table.record(
        "429 x2 (Retry-After 1s), 503 x3, dropped connection",
        "retried by the T2A client, run succeeds, every card written",
        observed,
        holds,
    )
    assert holds, observed


def test_one_org_failing_for_good_keeps_its_users_cards(world):
    x = world["orgs"][3]
    good_run(world, T[0])
    before = rows_of(world["pg"], x)
    set_faults(world, [{"org": x, "query": "SALES_ORG", "kind": "status", "status": 503}])
    result = run(world, T[1], STALE_FALLBACK_MAX_AGE_HOURS="0")
    letters = dead_letters(world["pg"], result["run_id"], "fetch")
    others = [r for r in card_table(world["pg"]) if r[2] != x]
    observed = (
        f"status {result['status']}, orgs failed {result['orgs_failed']}, dead letter {sorted(letters)}"
        f" after {letters.get(x, (None, None))[1]} attempts; {len(before)} users of {x} unchanged:"
        f" {rows_of(world['pg'], x) == before}"
    )
    holds = (
        result["status"] == "partial"
        and result["orgs_failed"] == 1
        and list(letters) == [x]
        and letters[x][1] == 4
        and "HTTP 503" in letters[x][0]
        and f"sales org {x}" in letters[x][0]
        and letters[x][2]["queries"]["SALES_ORG"]["sales_org_cd"] == x
        and before
        and rows_of(world["pg"], x) == before
        and all(r[5].isoformat() == T[1] for r in others)
    )
    fault_table.record(
        f"org {x}: 503 on every request",
        "4 attempts, dead letter, run completes, others served, that org's users keep their cards",
        observed,
        holds,
    )
    assert holds, observed


def test_stale_fallback_serves_last_good_data_with_its_time(world):
    x = world["orgs"][3]
    good_run(world, T[0])
    set_faults(world, [{"org": x, "query": "SALES_ORG", "kind": "status", "status": 503}])
    result = run(world, T[2])  # the org fails; its last good data is from T[0]
    pages = dict(
        world["pg"].get_records(
            "SELECT r.user_id, r.pages -> 'overview' ->> 'as_of' FROM user_scenario_result r WHERE sales_org_cd = %s",
            parameters=(x,),
        )
    )
    fresh = {r[5].isoformat() for r in rows_of(world["pg"], x)}
    observed = (
        f"orgs fallback {result['orgs_fallback']}, as_of on {x}'s pages {set(pages.values())},"
        f" rows confirmed at {fresh}"
    )
    holds = (
        result["orgs_fallback"] == 1
        and set(pages.values()) == {T[0]}
        and fresh == {T[2]}
        and result["status"] == "partial"
    )
    fault_table.record(
        f"org {x} still failing, last good data 4 h old (limit 6 h)",
        "merge uses last good extract, cards show its as-of time",
        observed,
        holds,
    )
    assert holds, observed


def test_sales_org_list_unreachable_fails_the_run_and_changes_no_card(world):
    """T2A answers 503 to SALES_ORG_LIST on every attempt: the client gives up after
    T2A_MAX_ATTEMPTS, resolve_orgs fails the run without an Airflow retry (no nested retries)
    and nothing in the card store changes but the run's own pipeline_run row."""
    good_run(world, T[9])
    pg = world["pg"]
    before = card_table(pg)
    side_tables = "SELECT (SELECT count(*) FROM card_change_outbox), (SELECT count(*) FROM pipeline_dead_letter)"
    side_before = pg.get_first(side_tables)
    set_faults(world, [{"query": "SALES_ORG_LIST", "kind": "status", "status": 503}])
    proc, result = run_to_failure(world, T[10], T2A_MAX_ATTEMPTS="2")
    row = run_row(pg, T[10])
    asked = admin(world, "GET", "/_admin/stats")["requests"]
    failed_at_resolve = "cannot list T2A's sales organizations" in proc.stdout + proc.stderr
    observed = (
        f"exit {proc.returncode}, run {result['status']} (finished {row['finished_at'] is not None});"
        f" T2A asked {[(r['query'], r['status'], r['count']) for r in asked]}; resolve_orgs failed:"
        f" {failed_at_resolve}; card table unchanged: {card_table(pg) == before}; outbox, dead letters"
        f" {side_before} -> {pg.get_first(side_tables)}"
    )
    holds = (
        proc.returncode != 0
        and "DagRun failed" in proc.stdout + proc.stderr
        and failed_at_resolve
        and result["status"] == "failed"
        and row["finished_at"] is not None
        and asked == [{"org": None, "query": "SALES_ORG_LIST", "status": 503, "count": 2}]
        and before
        and card_table(pg) == before
        and pg.get_first(side_tables) == side_before
    )
    fault_table.record(
        "SALES_ORG_LIST: 503 on every attempt (T2A_MAX_ATTEMPTS=2)",
        "2 attempts, no Airflow retry; run fails at resolve_orgs, pipeline_run failed, cards untouched",
        observed,
        holds,
    )
    assert holds, observed


MALFORMED = [
    ("not_json", "SALES_ORG", "not JSON"),
    ("content_not_json", "SALES_TOTAL", "meta.content is not JSON"),
    ("missing_header", "ORDER_STATUS", "headers missing"),
    ("row_length", "SALES_ORG", "cells, expected"),
    ("non_number", "SALES_TOTAL", "is not"),
    ("duplicate_key", "SALES_ORG", "duplicate key"),
]
BAD_SUBSCRIBERS = [
    ("bad-org", "0000", "{A1}", "en-US", None, "'0000' is not in T2A's SALES_ORG_LIST"),
    ("bad-accounts", None, "{}", "en-US", None, "accounts is empty"),
    ("bad-locale", None, "{A1}", "fr-FR", None, "locale 'fr-FR'"),
    ("bad-scenario", None, "{A1}", "en-US", "{weekly}", "scenario 'weekly' is not defined"),
]


def test_malformed_responses_and_bad_subscribers_are_dead_lettered(world):
    orgs = world["orgs"]
    set_faults(
        world,
        [
            {"org": org, "query": query, "kind": "malformed", "variant": variant}
            for org, (variant, query, _) in zip(orgs, MALFORMED)
        ],
    )
    for user_id, org, accounts, locale, scenarios, _ in BAD_SUBSCRIBERS:
        world["pg"].run(
            "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts,"
            " scenarios) VALUES (%s, %s, %s, %s, %s, %s)",
            parameters=(user_id, user_id, locale, org or orgs[7], accounts, scenarios),
        )
    try:
        result = run(world, T[3], STALE_FALLBACK_MAX_AGE_HOURS="0")
    finally:
        world["pg"].run("DELETE FROM card_subscriber WHERE user_id LIKE 'bad-%%'")
    fetch = dead_letters(world["pg"], result["run_id"], "fetch")
    subs = dead_letters(world["pg"], result["run_id"], "subscriber")
    problems = []
    for org, (variant, query, words) in zip(orgs, MALFORMED):
        error = fetch.get(org, ("missing",))[0]
        if not (error.startswith(f"sales org {org}, query {query}: ") and words in error):
            problems.append(f"{variant}: {error}")
        if statuses(world, org, query) != [(200, 1)]:
            problems.append(f"{variant}: retried {statuses(world, org, query)}")
    for user_id, *_, words in BAD_SUBSCRIBERS:
        key = "bad-scenario:weekly" if user_id == "bad-scenario" else user_id
        error = subs.get(key, ("missing",))[0]
        if not (error.startswith(f"user {user_id}: ") and words in error):
            problems.append(f"{user_id}: {error}")
    stored = world["pg"].get_first("SELECT count(*) FROM user_scenario_result WHERE user_id LIKE 'bad-%%'")[0]
    observed = (
        f"{len(fetch)} fetch + {len(subs)} subscriber dead letters, each not retried;"
        f" problems: {problems or 'none'}; cards for bad rows: {stored}"
    )
    holds = not problems and len(fetch) == 6 and len(subs) == 4 and stored == 0
    fault_table.record(
        "6 malformed kinds + 4 bad subscriber rows",
        "no retry, dead letter naming org/user, query/field and problem; nothing coerced",
        observed,
        holds,
    )
    assert holds, observed


def test_card_over_the_size_limit_is_dead_lettered_and_never_stored(world):
    """One org's data is valid but extreme (every Material code 6,000 characters, the
    stand-in's "huge_codes"): the fetch succeeds, the cards showing those codes break the
    28 KB limit. Each such user gets a `scenario` dead letter and keeps the card they had;
    the run goes on for everyone else."""
    x = world["orgs"][4]
    pg = world["pg"]
    good_run(world, T[7])
    before = {(r[0], r[1]): r for r in card_table(pg)}
    users_of_x = {u for (u,) in pg.get_records("SELECT user_id FROM card_subscriber WHERE sales_org_cd = %s", (x,))}
    set_faults(world, [{"org": x, "kind": "extreme", "variant": "huge_codes"}])
    result = run(world, T[8])
    letters = dead_letters(pg, result["run_id"], "scenario")
    dead = {key.split(":")[0] for key in letters}
    after = {(r[0], r[1]): r for r in card_table(pg)}
    kept = [key for key in after if key[0] in dead and after[key] == before.get(key)]
    fresh = {key[0] for key, r in after.items() if r[5].isoformat() == T[8] and r[4] == result["run_id"]}
    sizes = [
        len(orjson.dumps(card))
        for (cards,) in pg.get_records("SELECT cards FROM user_scenario_result")
        for card in cards.values()
    ]
    errors = {e for e, *_ in letters.values()}
    observed = (
        f"status {result['status']}, fetch dead letters {len(dead_letters(pg, result['run_id'], 'fetch'))},"
        f" scenario dead letters {len(letters)} (users of {x}: {len(users_of_x)}), e.g."
        f" {sorted(errors)[0][:110] if errors else '-'}; their previous cards kept {len(kept)}/{len(dead)};"
        f" others at the new interval {len(fresh)}/{SUBSCRIBERS - len(dead)}; largest stored card"
        f" {max(sizes)} B"
    )
    holds = (
        result["status"] == "partial"
        and not dead_letters(pg, result["run_id"], "fetch")
        and dead
        and dead <= users_of_x
        and all(key.endswith(":daily_brief") for key in letters)
        and all(e.startswith("card daily_brief/") and f"over the {MAX_CARD_BYTES}-byte limit" in e for e in errors)
        and all(payload["user_id"] == key.split(":")[0] for key, (_, _, payload) in letters.items())
        and len(kept) == len(dead)
        and fresh == {u for u, _ in after} - dead
        and result["subscribers_served"] == SUBSCRIBERS - len(dead)
        and result["dead_letters"] == len(letters)
        and max(sizes) <= MAX_CARD_BYTES
    )
    fault_table.record(
        f"org {x}: valid data, every Material code 6,000 chars (cards over 28 KB)",
        "scenario dead letter per affected user, their old card kept, nothing over 28 KB stored; partial",
        observed,
        holds,
    )
    assert holds, observed


def _start_redis(port: int, workdir: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"private redis-server on port {port} did not start")


def test_redis_down_during_publish_loses_no_event(world, tmp_path):
    set_faults(world, [])
    port = free_port()
    conn = json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": port})
    server = _start_redis(port, tmp_path)
    server.terminate()
    server.wait(timeout=10)
    down = run(world, T[4], AIRFLOW_CONN_REDIS_DEFAULT=conn)
    pending = world["pg"].get_first("SELECT count(*) FROM card_change_outbox WHERE published_at IS NULL")[0]
    server = _start_redis(port, tmp_path)
    try:
        again = run(world, T[4], AIRFLOW_CONN_REDIS_DEFAULT=conn)
        entries = redis.Redis(port=port, decode_responses=True).xrange(change_events.STREAM)
    finally:
        server.terminate()
        server.wait(timeout=10)
    left = world["pg"].get_first("SELECT count(*) FROM card_change_outbox WHERE published_at IS NULL")[0]
    ids = [e[1]["event_id"] for e in entries]
    observed = (
        f"run with Redis down: {down['status']}, {down['cards_written']} written, {pending} events queued;"
        f" next run: {len(entries)} published ({len(set(ids))} distinct), {left} left"
    )
    holds = (
        down["status"] == "success"
        and down["cards_written"] > 0
        and pending >= down["cards_written"]
        and len(entries) == pending == len(set(ids))
        and left == 0
        and again["cards_written"] == 0
    )
    fault_table.record(
        "Redis stopped during publish, then restarted",
        "run succeeds; events wait in the outbox and go out once, next run",
        observed,
        holds,
    )
    assert holds, observed


def test_killed_mid_batch_leaves_nothing_half_written_and_the_run_is_abandoned_later(world, card_store_db):
    """A batch blocked inside its card transaction (a lock held by the test) is SIGKILLed with
    its whole `airflow dags test` process group, so `finalize` never runs. Its pipeline_run row
    stays 'running'; the rerun starts more than the run timeout (2 h) after it — its started_at
    is moved back rather than waited for — and marks it 'abandoned', but not a control row that
    started within the timeout."""
    pg = world["pg"]
    log_path = ARTIFACTS / log_name(world, T[5]).replace(".log", "-killed.log")
    proc = start_dags_test(world["staging"], T[5], log_path, AIRFLOW_CONN_T2A_API=world["conn"])
    lock = psycopg.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, dbname=card_store_db)
    try:
        # The lock goes on once plan_run is done (its last step writes the candidates file):
        # plan_run deletes withdrawn cards from the same table and must not be the one held.
        planned = Path(world["staging"].removeprefix("file://"))
        for _ in range(600):
            if next(planned.rglob("candidates.json"), None) or proc.poll() is not None:
                break
            time.sleep(0.1)
        lock.execute("LOCK TABLE user_scenario_result IN SHARE ROW EXCLUSIVE MODE")
        waiting = 0
        for _ in range(240):
            waiting = pg.get_first(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                " AND query ILIKE %s",
                parameters=(card_store_db, "%user_scenario_result%incoming%"),  # a batch's card write
            )[0]
            if waiting or proc.poll() is not None:
                break
            time.sleep(0.5)
        assert waiting, f"the batch never reached its card write; see {log_path}"
    finally:
        kill_group(proc)
        lock.rollback()
        lock.close()
    half = pg.get_first("SELECT count(*) FROM user_scenario_result WHERE data_interval_end = %s", parameters=(T[5],))[0]
    killed = run_row(pg, T[5])
    pg.run(
        "UPDATE pipeline_run SET started_at = now() - %s WHERE run_id = %s",
        parameters=(RUN_TIMEOUT + timedelta(minutes=1), killed["run_id"]),
    )
    control = "control__started_within_the_run_timeout"
    pg.run(
        "INSERT INTO pipeline_run (run_id, data_interval_end, status, started_at) VALUES (%s, %s, 'running', now() - %s)",
        parameters=(control, T[4], RUN_TIMEOUT - timedelta(minutes=10)),
    )
    try:
        result = run(world, T[5])
        statuses_after = dict(
            pg.get_records(
                "SELECT run_id, status || CASE WHEN finished_at IS NULL THEN '' ELSE ' (finished)' END"
                " FROM pipeline_run WHERE run_id IN (%s, %s)",
                parameters=(killed["run_id"], control),
            )
        )
    finally:
        pg.run("DELETE FROM pipeline_run WHERE run_id = %s", parameters=(control,))
    after = card_table(pg)
    events = pg.get_records(
        "SELECT user_id, count(*) FROM card_change_outbox WHERE run_id = %s GROUP BY user_id HAVING count(*) > 1",
        parameters=(result["run_id"],),
    )
    fresh = sum(1 for r in after if r[5].isoformat() == T[5])
    observed = (
        f"rows of the killed run visible: {half}; rerun {result['status']}, {fresh}/{len(after)} rows at"
        f" the new interval, duplicate events {len(events)}"
    )
    holds = half == 0 and result["status"] == "success" and fresh == len(after) == SUBSCRIBERS and not events
    fault_table.record(
        "process SIGKILLed inside a batch's card transaction",
        "no half-written batch; rerun ends like a clean run",
        observed,
        holds,
    )
    abandoned_observed = (
        f"killed run after the kill: {killed['status']} (finished_at {killed['finished_at']}); after a run"
        f" starting 2 h 1 min later: {statuses_after.get(killed['run_id'])}; control row started 1 h 50 min"
        f" before: {statuses_after.get(control)}"
    )
    abandoned = (
        killed["status"] == "running"
        and killed["finished_at"] is None
        and statuses_after == {killed["run_id"]: "abandoned (finished)", control: "running"}
    )
    fault_table.record(
        "whole `dags test` run SIGKILLed (finalize never runs), then the run timeout (2 h) passes",
        "its pipeline_run stays 'running' until a run starting > 2 h later marks it 'abandoned'",
        abandoned_observed,
        abandoned,
    )
    assert holds, observed
    assert abandoned, abandoned_observed


def test_batch_failing_every_retry_fails_the_run(world, card_store_db):
    """One user's card insert always fails (a trigger the test puts on the card table of its
    own database: a superuser bypasses privileges, not triggers), so that user's batch fails
    on its first try and both Airflow retries (the DAG's retries=2, 20 s exponential). The
    other batches commit; `finalize` records 'failed' and fails the run. A sequence (never
    rolled back) counts the refused inserts, one per try."""
    pg = world["pg"]
    victim = "u00001"
    pg.run(
        [
            "CREATE SEQUENCE fault_refused_inserts",
            "CREATE FUNCTION fault_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.user_id = TG_ARGV[0] THEN PERFORM nextval('fault_refused_inserts');"
            " RAISE EXCEPTION 'fault suite: the card of % is refused', NEW.user_id; END IF; RETURN NEW; END $$",
            f"CREATE TRIGGER fault_refuse_insert BEFORE INSERT OR UPDATE ON user_scenario_result"
            f" FOR EACH ROW EXECUTE FUNCTION fault_refuse_insert('{victim}')",
        ]
    )
    started = time.monotonic()
    try:
        proc, result = run_to_failure(world, T[11])
        tries = pg.get_first("SELECT last_value FROM fault_refused_inserts WHERE is_called")
    finally:
        pg.run(
            [
                "DROP TRIGGER IF EXISTS fault_refuse_insert ON user_scenario_result",
                "DROP FUNCTION IF EXISTS fault_refuse_insert()",
                "DROP SEQUENCE IF EXISTS fault_refused_inserts",
            ]
        )
    seconds = time.monotonic() - started
    row = run_row(pg, T[11])
    batches = [
        json.loads(path.read_text()) for path in Path(world["staging"].removeprefix("file://")).rglob("batches/*.json")
    ]
    (lost,) = [{s["user_id"] for s in batch} for batch in batches if victim in {s["user_id"] for s in batch}]
    stored = {r[0] for r in card_table(pg) if r[5].isoformat() == T[11] and r[4] == result["run_id"]}
    everyone = {u for (u,) in pg.get_records("SELECT user_id FROM card_subscriber")}
    scenario_letters = dead_letters(pg, result["run_id"], "scenario")
    observed = (
        f"exit {proc.returncode}; refused inserts (= tries) {tries[0] if tries else 0}; run {result['status']}"
        f" (finished {row['finished_at'] is not None}), cards written {result['cards_written']}: all but the"
        f" failed batch's {len(lost)} users {stored == everyone - lost}; dead letters {len(scenario_letters)};"
        f" {seconds:.0f} s"
    )
    holds = (
        proc.returncode != 0
        and "DagRun failed" in proc.stdout + proc.stderr
        and "incomplete (missing batches" in proc.stdout + proc.stderr
        and tries == (3,)
        and result["status"] == "failed"
        and row["finished_at"] is not None
        and len(batches) > 1
        and stored == everyone - lost
        and result["cards_written"] == len(everyone - lost)
        and not scenario_letters
    )
    fault_table.record(
        f"every insert of {victim}'s card fails (batch fails its try and both retries)",
        "3 tries; the other batches commit; finalize records failed, the run fails",
        observed,
        holds,
    )
    assert holds, observed


def test_rerun_of_the_same_interval_changes_nothing(world):
    good_run(world, T[5])
    before = card_table(world["pg"])
    result = run(world, T[5])
    holds = result["cards_written"] == 0 and card_table(world["pg"]) == before
    fault_table.record(
        "rerun of the same interval",
        "identical tables",
        f"{result['cards_written']} written, tables identical: {card_table(world['pg']) == before}",
        holds,
    )
    assert holds


def test_the_token_never_leaks(world):
    """A run with retried and failing requests (the places a token could slip into an error or
    a log line), then every log, dead letter and card is searched for it."""
    token = world["token"]
    a, x = world["orgs"][:2]
    set_faults(
        world,
        [
            {"org": a, "query": "SALES_TOTAL", "kind": "status", "status": 503, "times": 1},
            {"org": x, "query": "SALES_ORG", "kind": "status", "status": 401},
        ],
    )
    result = run(world, T[6], STALE_FALLBACK_MAX_AGE_HOURS="0")
    own_log = ARTIFACTS / log_name(world, T[6])
    assert result["dead_letters"] >= 1 and own_log.exists(), result
    places = {"dags test output": sorted({own_log, *ARTIFACTS.glob("faults-*.log")})}
    home = Path(__import__("os").environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
    places["airflow task logs"] = [p for p in (home / "logs").rglob("*") if p.is_file()]
    leaks = [str(p) for paths in places.values() for p in paths if token in p.read_text(errors="replace")]
    letters = world["pg"].get_records("SELECT payload::text || error FROM pipeline_dead_letter")
    leaks += ["pipeline_dead_letter" for (text,) in letters if token in text]
    cards = world["pg"].get_first(
        "SELECT count(*) FROM user_scenario_result WHERE pages::text LIKE %s OR cards::text LIKE %s",
        parameters=(f"%{token}%", f"%{token}%"),
    )[0]
    leaks += ["user_scenario_result"] * bool(cards)
    scanned = sum(len(v) for v in places.values())
    observed = f"{scanned} log files, {len(letters)} dead letters, all cards scanned: leaks {leaks or 'none'}"
    assert scanned and letters
    fault_table.record("token in logs, task output, dead letters, cards", "never present", observed, not leaks)
    assert not leaks, observed
