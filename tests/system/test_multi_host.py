"""Workers on more than one host: the real Celery stack (`scripts/stack.sh`) with
``STAGING_URL=s3://…`` on an S3-compatible server (moto, over HTTP on 127.0.0.1) through the
Amazon provider and the ``aws_default`` connection, and two Celery workers that share no
staging filesystem — each runs in a working and temporary directory of its own, so whatever
one task hands the next (extracts, merged files, batches, last good copies) can only travel
through S3.

A scheduled run on that stack must pass the same checks as on the single-host stack (every
task on the worker of its queue, the card store exactly the run's), every stored page must
equal the independent reference, and the staging area must be where S3 says it is.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest

from include import card_store
from include.config import DAG_ID
from tests.support.celery_stack import (
    ARTIFACTS,
    BATCH_SIZE,
    SUBSCRIBERS,
    assert_card_store,
    assert_ran_on_celery,
    parse_ts,
    running_stack,
)
from tests.support.daily_brief_reference import reference_pages
from tests.support.s3_server import aws_connection, new_bucket, objects
from tests.support.t2a_reader import t2a_inputs


@pytest.fixture(scope="module")
def bucket(s3_endpoint):
    return new_bucket(s3_endpoint)


@pytest.fixture(scope="module")
def stack(card_store_db, stack_broker, tmp_path_factory, s3_endpoint, bucket):
    with running_stack(
        card_store_db,
        stack_broker,
        tmp_path_factory,
        tag="s3",
        STAGING_URL=f"s3://{bucket}/staging",
        AIRFLOW_CONN_AWS_DEFAULT=aws_connection(s3_endpoint),
    ) as started:
        yield started


def test_a_scheduled_run_with_workers_sharing_only_s3_is_exact(
    stack, subscribers, first_scheduled_run, s3_endpoint, bucket, monkeypatch
):
    run = first_scheduled_run["run"]
    run_id, interval_end = run["dag_run_id"], parse_ts(run["data_interval_end"])
    orgs = sorted(set(subscribers.values()))
    assert_ran_on_celery(stack, run_id, fetches=len(orgs), batches=math.ceil(SUBSCRIBERS / BATCH_SIZE))
    assert_card_store(run_id, interval_end, set(subscribers), first_scheduled_run["card_store"])

    # every page, read from the stand-in through the tests' own T2A reader
    secrets = stack.local_env()
    host, port = stack.env["T2A_API_URL"].removeprefix("http://").split(":")
    monkeypatch.setenv(
        "AIRFLOW_CONN_T2A_API",
        json.dumps(
            {"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": secrets["T2A_TOKEN"]}
        ),
    )
    data, contexts = t2a_inputs(interval_end.isoformat())
    stored = card_store.hook().get_records(
        "SELECT s.user_id, s.sales_org_cd, s.accounts, s.product_groups, s.display_name, r.pages"
        " FROM card_subscriber s JOIN user_scenario_result r USING (user_id) WHERE r.run_id = %s",
        parameters=(run_id,),
    )
    assert len(stored) == len(subscribers)
    for user_id, org, accounts, groups, name, pages in stored:
        subscriber = {"sales_org_cd": org, "accounts": accounts, "product_groups": groups, "display_name": name}
        assert pages == reference_pages(subscriber, data, contexts[org]), user_id

    # the staging area is in the bucket: the run's extracts, merged files and batches, and each
    # org's last good copy; the workers' own directories hold none of it
    staged = objects(s3_endpoint, bucket, "staging/")
    runs = {key.split("/")[2] for key in staged if key.startswith("staging/runs/")}
    assert len(runs) == 1, runs
    run_files = [key for key in staged if key.startswith("staging/runs/")]
    for org in orgs:
        for query in ("SALES_TOTAL", "SALES_ORG", "ORDER_STATUS"):
            assert any(key.endswith(f"/orgs/{org}/{query}.csv") for key in run_files), (org, query)
        assert f"staging/last_good/{org}/current.json" in staged
    assert any("/merged/" in key for key in run_files) and any("/batches/" in key for key in run_files)
    for worker in ("worker-sales", "worker-adaptive"):
        local = [p.name for p in (stack.home / "work" / worker).rglob("*") if p.suffix in (".csv", ".json")]
        assert local == [], (worker, local)

    # the figures of the closing note
    timing = stack.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
    seconds = (parse_ts(timing["end_date"]) - parse_ts(timing["start_date"])).total_seconds()
    per_worker = Counter(w for key, workers in stack.executed_on().items() if key[0] == run_id for w in workers)
    figures = (
        f"multi-host run {run_id}: {seconds:.1f} s; task instances per worker {dict(sorted(per_worker.items()))};"
        f" S3 staging after it: {len(staged)} objects, {sum(staged.values()) / 1e6:.2f} MB;"
        f" {len(stored)} subscribers' pages all equal to the reference"
    )
    (ARTIFACTS / "multi-host-figures.txt").write_text(figures + "\n")
    print(figures)
