"""Fixtures of the Celery-stack tests. Each test module starts its own stack (its ``stack``
fixture, with the settings it needs); these fixtures work on whichever stack that is."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from include import card_store
from t2a_standin import seed
from t2a_standin.data import Dataset, preset
from tests.support.celery_stack import DAG_ID, SUBSCRIBERS, TICK_GUARD, card_store_state, latest_tick

RESULT_TABLES = "user_scenario_result, pipeline_run, pipeline_dead_letter, card_change_outbox"


@pytest.fixture(scope="module")
def stack_broker(redis_dbs):
    """The Redis database the module's stack uses as Celery broker (under a key prefix of its own)."""
    return redis_dbs["stack_broker"]


@pytest.fixture(scope="module")
def subscribers(stack):
    """Seeded subscribers for the stand-in's data set: {user_id: sales_org_cd}."""
    pg = card_store.hook()
    seed.seed(pg, Dataset(preset("small")), SUBSCRIBERS)
    return dict(pg.get_records("SELECT user_id, sales_org_cd FROM card_subscriber WHERE active"))


@pytest.fixture(scope="module")
def first_scheduled_run(stack, subscribers):
    """The DAG unpaused once for the module (runs of a paused DAG never start), on empty result
    tables: the scheduled run unpausing creates, run to its end. Returns what a test checks
    about it, read as soon as it ended (later tests change the card store): {"run": the run as
    the REST API first listed it, "ticks": the latest schedule ticks around unpausing,
    "card_store": card_store_state(run_id)}."""
    assert stack.call("GET", f"/dags/{DAG_ID}")["is_paused"], "the stack's DAG must start paused"
    assert not stack.runs(run_type=["scheduled"]), "a scheduled run before unpausing"
    card_store.hook().run(f"TRUNCATE {RESULT_TABLES}")
    ticks = {latest_tick(datetime.now(UTC))}
    stack.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    deadline = time.monotonic() + 60
    while not (scheduled := stack.runs(run_type=["scheduled"])):  # unpausing always schedules the latest interval
        assert time.monotonic() < deadline, "no scheduled run 60 s after unpausing"
        time.sleep(1)
    ticks.add(latest_tick(datetime.now(UTC)))
    assert len(scheduled) == 1, scheduled
    stack.wait_until_idle()
    return {"run": scheduled[0], "ticks": ticks, "card_store": card_store_state(scheduled[0]["dag_run_id"])}


@pytest.fixture(scope="module")
def live_dag(stack, first_scheduled_run):
    """The DAG unpaused with no run in flight."""
    stack.wait_until_idle()
    return stack


@pytest.fixture
def clear_of_schedule_tick(live_dag):
    """Start a test only when no 2-hourly tick can fire during it: a scheduled run of a new
    interval would write newer cards than the test's own runs. Near a tick, wait it out."""
    now = datetime.now(UTC)
    tick = latest_tick(now) + timedelta(hours=2)
    if tick - now < TICK_GUARD:
        time.sleep((tick - now).total_seconds() + 30)
        live_dag.wait_until_idle()
    return live_dag


@pytest.fixture
def clean_cards(subscribers):
    """Empty result tables before each test, so each sees only its own runs' writes."""
    card_store.hook().run(f"TRUNCATE {RESULT_TABLES}")
