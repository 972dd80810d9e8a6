"""
### Adaptive Card pipeline

Every two hours, precompute each subscribed sales manager's Adaptive Card brief:
plan from `card_subscriber` → resolve organizations against T2A → fetch each sales organization from T2A (mapped, queue
`sales_org`) → merge into `Material.csv` / `GSCM.csv` / `OrderStatus.csv` → run scenarios
per batch of subscribers (mapped, queue `adaptive_card`) → store cards in the card store and
announce changes on the Redis stream `adaptive_card_updates`; record an event on the Airflow
Asset `adaptive_card_store` (the run's counts), which DAGs scheduled on it follow.

Subscribers are processed in batches, not one task per user: each task instance costs
Airflow ~0.25 s before any work, more than a whole batch's compute. Wiring only here; the
work lives in `include/pipeline.py`. See README.md for operations.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from include import pipeline
from include.config import CARD_STORE_ASSET, DAG_ID, T2A_POOL, settings

CFG = settings()


@dag(
    dag_id=DAG_ID,
    schedule=CronTriggerTimetable(CFG.cron_spec, timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=pipeline.RUN_TIMEOUT,
    tags=["adaptive-cards", "t2a", "teams"],
    default_args={
        "owner": "sales-analytics",
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
    },
    params={
        "sales_orgs": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            title="Sales organizations",
            description="Only these sales_org_cd values (empty: every organization with active subscribers).",
        ),
        "user_ids": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            title="Users",
            description="Only these subscriber user_ids (empty: every active subscriber).",
        ),
        "batch_size": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Batch size",
            description="Subscribers per scenario task (empty: SUBSCRIBER_BATCH_SIZE, default 500).",
        ),
        "force_rewrite": Param(
            False,
            type="boolean",
            title="Force rewrite",
            description="Rewrite and announce cards even when their content is unchanged.",
        ),
    },
    doc_md=__doc__,
)
def adaptive_card_pipeline():
    @task
    def migrate_schema():
        return pipeline.migrate_schema()

    @task
    def plan_run():
        ctx = get_current_context()
        return pipeline.plan_run(run_id=ctx["run_id"], interval_end=pipeline.interval_end(ctx), params=ctx["params"])

    @task
    def resolve_orgs(plan: dict):
        return pipeline.resolve_orgs(plan)

    # The pool caps T2A fetches across all runs; max_active_tis_per_dagrun within one run.
    @task(
        queue="sales_org",
        pool=T2A_POOL,
        max_active_tis_per_dagrun=CFG.max_workers_sales,
        map_index_template="{{ org_label }}",
    )
    def fetch_org(org: dict):
        ctx = get_current_context()
        ctx["org_label"] = org["sales_org_cd"]
        return pipeline.fetch_org(org, run_id=ctx["run_id"])

    @task
    def merge_extracts(plan: dict, orgs: list, fetched: list):
        return pipeline.merge_extracts(plan, orgs, list(fetched))

    @task
    def plan_batches(plan: dict, merged: dict):
        return pipeline.plan_batches(plan, merged)

    @task(
        queue="adaptive_card",
        max_active_tis_per_dagrun=CFG.max_workers_adaptive,
        map_index_template="{{ batch_label }}",
    )
    def run_scenarios(plan: dict, orgs: list, merged: dict, batch: dict):
        get_current_context()["batch_label"] = f"batch {batch['batch']}/{batch['of']} ({batch['size']} users)"
        return pipeline.run_scenarios(plan, orgs, merged, batch)

    # A run that ends success or partial records an event on the card store (its counts as the
    # extra); a failed run raises in pipeline.finalize, and a failed task records none.
    @task(trigger_rule="all_done", outlets=[CARD_STORE_ASSET])
    def finalize(plan: dict, merged, batches, results):
        summary = pipeline.finalize(plan, merged, batches, list(results or []))
        get_current_context()["outlet_events"][CARD_STORE_ASSET].extra = {
            "run_id": plan["run_id"],
            "data_interval_end": plan["interval_end"],
            **summary,
        }
        return summary

    plan = plan_run()
    migrate_schema() >> plan
    orgs = resolve_orgs(plan)
    fetched = fetch_org.expand(org=orgs)
    merged = merge_extracts(plan, orgs, fetched)
    batches = plan_batches(plan, merged)
    results = run_scenarios.partial(plan=plan, orgs=orgs, merged=merged).expand(batch=batches)
    finalize(plan, merged, batches, results)


adaptive_card_pipeline()
