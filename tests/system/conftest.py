"""Fixtures of the Celery-stack tests. Each test module starts its own stack (its ``stack``
fixture, with the settings it needs); these fixtures work on whichever stack that is."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from include import card_store
from t2a_standin import seed
from t2a_standin.data import Dataset, preset
from tests.support.celery_stack import DAG_ID, SUBSCRIBERS, TICK_GUARD, latest_tick


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
    card_store.hook().run("TRUNCATE user_scenario_result, pipeline_run, pipeline_dead_letter, card_change_outbox")
