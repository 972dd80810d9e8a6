"""The DAG for real: `scripts/stack.sh` (api-server, scheduler, dag-processor, triggerer, one
Celery worker per queue over Redis, Flower, the T2A stand-in) on PostgreSQL metadata, driven
through every entry point an operator uses — the schedule, a REST trigger with params,
`airflow backfill create` and the UI's trigger form (headless Debian Chromium via Playwright).

Every test checks that each task instance ran on the Celery worker that serves its queue (the
REST API's queue/hostname fields and the worker's own log) and that the card store holds
exactly what the run implies. One stack serves the module: it runs on free ports with its own
metadata database, Celery broker (a key prefix in a Redis database this test session claimed),
card store and staging area, so it never meets a developer's stack, and it is stopped (and
checked to leave no process) even when a test fails.

The DAG is unpaused once for the module (``first_scheduled_run``, which also keeps what the
schedule test checks); every other test starts from empty result tables (``clean_cards``), so
each runs alone or in any order.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from include import card_store
from include.config import DAG_ID, T2A_POOL
from tests.support import CHROMIUM, CHROMIUM_ARGS
from tests.support.celery_stack import (
    ARTIFACTS,
    BATCH_SIZE,
    SUBSCRIBERS,
    Stack,
    assert_card_store,
    assert_ran_on_celery,
    latest_tick,
    parse_ts,
    running_stack,
)


@pytest.fixture(scope="module")
def stack(card_store_db, redis_db, stack_broker, tmp_path_factory):
    with running_stack(card_store_db, stack_broker, tmp_path_factory) as started:
        yield started


def test_schedule_creates_the_latest_interval_run_when_unpaused(stack, subscribers, first_scheduled_run):
    run = first_scheduled_run["run"]
    interval_end = parse_ts(run["data_interval_end"])
    assert interval_end in first_scheduled_run["ticks"], run
    stack.wait_for_run(run["dag_run_id"])

    orgs = len(set(subscribers.values()))
    assert_ran_on_celery(stack, run["dag_run_id"], fetches=orgs, batches=math.ceil(SUBSCRIBERS / BATCH_SIZE))
    # The card store as the run left it (the fixture read it before any other test ran a run).
    assert_card_store(run["dag_run_id"], interval_end, set(subscribers), first_scheduled_run["card_store"])


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
    newest = latest_tick(datetime.now(UTC)) - timedelta(hours=6)
    intervals = [newest - timedelta(hours=4), newest - timedelta(hours=2), newest]
    # One at a time, like the DAG's max_active_runs=1 (a backfill has its own limit, default 10).
    runs = _backfill(live_dag, intervals, max_active_runs=1)

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
    assert by_interval == {parse_ts(r["data_interval_end"]): r["dag_run_id"] for r in runs}
    assert_card_store(by_interval[newest], newest, set(subscribers))


def _set_pool(stack: Stack, slots: int) -> int:
    """Set the T2A pool's slots; return what it had."""
    got = stack.airflow("pools", "get", T2A_POOL, "--output", "json")
    assert got.returncode == 0, got.stdout + got.stderr[-3000:]
    (before,) = json.loads(got.stdout)
    made = stack.airflow("pools", "set", T2A_POOL, str(slots), "T2A org fetches in flight across all runs")
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    return int(before["slots"])


def _backfill(live_dag, intervals: list[datetime], max_active_runs: int) -> list[dict]:
    """`airflow backfill create` over these intervals (after any earlier backfill completed:
    Airflow allows one at a time per DAG); waits for its runs, returned in interval order."""
    _wait_for_backfills_to_complete(live_dag)
    made = live_dag.airflow(
        "backfill",
        "create",
        "--dag-id",
        DAG_ID,
        "--from-date",
        intervals[0].isoformat(),
        "--to-date",
        intervals[-1].isoformat(),
        "--max-active-runs",
        str(max_active_runs),
    )
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    runs = [r for r in live_dag.runs(run_type=["backfill"]) if parse_ts(r["data_interval_end"]) in intervals]
    runs.sort(key=lambda r: parse_ts(r["data_interval_end"]))
    assert [parse_ts(r["data_interval_end"]) for r in runs] == intervals, runs
    for run in runs:
        live_dag.wait_for_run(run["dag_run_id"])
    return runs


def _wait_for_backfills_to_complete(stack: Stack, timeout: float = 120) -> None:
    """Only one backfill per DAG may run: the scheduler marks one complete a while after its
    last run ended."""
    deadline = time.monotonic() + timeout
    while running := [b for b in stack.call("GET", "/backfills", params={"dag_id": DAG_ID})["backfills"]
                      if not b["completed_at"]]:  # fmt: skip
        assert time.monotonic() < deadline, f"backfills still running after {timeout}s: {running}"
        time.sleep(2)


def test_backfill_of_three_runs_at_once_keeps_t2a_fetches_within_the_pool(
    clear_of_schedule_tick, live_dag, subscribers, clean_cards
):
    """The pool caps T2A fetches across runs: three backfill runs at once (each may fetch
    MAX_WORKERS_SALES=3 orgs at a time, and the sales worker runs 3 tasks) with the pool at 2
    never have more than 2 org queries in flight at the stand-in, and do have 2 (a delay on
    every SALES_ORG query makes fetches overlap); without the pool they could reach 3."""
    pool = 2
    newest = latest_tick(datetime.now(UTC)) - timedelta(hours=14)  # intervals no other test here runs
    intervals = [newest - timedelta(hours=4), newest - timedelta(hours=2), newest]
    before = _set_pool(live_dag, pool)
    try:
        live_dag.standin("POST", "/_admin/faults", [{"query": "SALES_ORG", "kind": "delay", "seconds": 1.5}])
        live_dag.standin("DELETE", "/_admin/stats")
        runs = _backfill(live_dag, intervals, max_active_runs=3)
        stats = live_dag.standin("GET", "/_admin/stats")
    finally:
        live_dag.standin("DELETE", "/_admin/faults")
        _set_pool(live_dag, before)

    orgs = len(set(subscribers.values()))
    for run in runs:
        assert_ran_on_celery(live_dag, run["dag_run_id"], fetches=orgs, batches=math.ceil(SUBSCRIBERS / BATCH_SIZE))
    ended = [live_dag.call("GET", f"/dags/{DAG_ID}/dagRuns/{r['dag_run_id']}") for r in runs]
    spans = [(parse_ts(r["start_date"]), parse_ts(r["end_date"])) for r in ended]
    assert max(start for start, _ in spans) < min(end for _, end in spans), f"the runs never overlapped: {spans}"
    assert 2 <= stats["max_org_in_flight"] <= pool, stats


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
            args=CHROMIUM_ARGS,
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
    assert_card_store(run_id, parse_ts(run["data_interval_end"]), users)


def test_flower_listens_on_loopback_only_and_asks_for_the_generated_basic_auth(stack):
    port = stack.env["STACK_FLOWER_PORT"]
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    assert [line.split()[3] for line in listening.stdout.splitlines()] == [f"127.0.0.1:{port}"]
    secrets = stack.local_env()
    user, password = secrets["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"].split(":", 1)
    assert user == "flower" and len(password) >= 24  # generated by setup.sh for this AIRFLOW_HOME
    workers = f"http://127.0.0.1:{port}/api/workers?refresh=1"
    assert requests.get(workers, timeout=30).status_code == 401
    assert requests.get(workers, auth=(user, "not-the-password"), timeout=30).status_code == 401
    answered = requests.get(workers, auth=(user, password), timeout=60)
    assert answered.status_code == 200, answered.text[:300]
    assert {name.split("@")[0] for name in answered.json()} == {"sales", "adaptive"}
