"""Reference (3): Airflow's floor — a DAG of the pipeline's shape whose tasks do nothing.

Same task ids, dependencies, mapped fan-outs (`orgs` fetches, `batches` scenario batches,
both run params) and trigger rules as `adaptive_card_pipeline`; every task returns a
small dict like the real one so XCom traffic is alike. Timing it on the same executor
gives what Airflow itself costs for one run. Lives outside `dags/` so it is never deployed:
the bench's own DAGs folder links it next to the pipeline (bench/workload.py), because the
Celery workers parse every DAG they run from the DAGs folder they were started with.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task


@dag(
    dag_id="bench_noop_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["bench"],
    params={"orgs": Param(3, type="integer", minimum=1), "batches": Param(3, type="integer", minimum=1)},
)
def bench_noop_pipeline():
    @task
    def migrate_schema():
        return []

    @task
    def plan_run():
        params = get_current_context()["params"]
        return {"plan_id": "noop", "orgs": params["orgs"], "batches": params["batches"]}

    @task
    def resolve_orgs(plan: dict):
        return [{"sales_org_cd": str(n), "plan_id": plan["plan_id"]} for n in range(plan["orgs"])]

    @task(queue="sales_org", map_index_template="{{ org_label }}")
    def fetch_org(org: dict):
        get_current_context()["org_label"] = org["sales_org_cd"]
        return {"sales_org_cd": org["sales_org_cd"], "plan_id": org["plan_id"], "status": "ok"}

    @task
    def merge_extracts(plan: dict, orgs: list, fetched: list):
        return {"orgs_ok": [f["sales_org_cd"] for f in fetched], "orgs_failed": []}

    @task
    def plan_batches(plan: dict, merged: dict):
        return [{"batch": n, "of": plan["batches"]} for n in range(1, plan["batches"] + 1)]

    @task(queue="adaptive_card", map_index_template="{{ batch_label }}")
    def run_scenarios(plan: dict, orgs: list, merged: dict, batch: dict):
        get_current_context()["batch_label"] = f"batch {batch['batch']}/{batch['of']}"
        return {"batch": batch["batch"], "written": 0}

    @task(trigger_rule="all_done")
    def finalize(plan: dict, merged, batches, results):
        return {"batches": len(list(results or []))}

    plan = plan_run()
    migrate_schema() >> plan
    orgs = resolve_orgs(plan)
    fetched = fetch_org.expand(org=orgs)
    merged = merge_extracts(plan, orgs, fetched)
    batches = plan_batches(plan, merged)
    results = run_scenarios.partial(plan=plan, orgs=orgs, merged=merged).expand(batch=batches)
    finalize(plan, merged, batches, results)


bench_noop_pipeline()
