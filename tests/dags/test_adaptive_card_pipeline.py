"""DAG validity, the way production Airflow repos check it: the folder imports cleanly and the
DAG carries the schedule, tags, retries, params and mapped tasks the product relies on."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from include.config import CARD_STORE_ASSET, CARD_STORE_ASSET_URI, T2A_POOL, settings

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.get_dag("adaptive_card_pipeline")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dag_ids) == ["adaptive_card_pipeline"]


def test_schedule_and_run_policy(dag):
    assert dag.timetable.expression == "0 */2 * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.tags) >= {"adaptive-cards"}
    assert dag.doc_md and "Adaptive Card pipeline" in dag.doc_md


def test_every_task_retries(dag):
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id


def test_mapped_tasks_and_queues(dag):
    fetch, scenarios = dag.get_task("fetch_org"), dag.get_task("run_scenarios")
    assert fetch.is_mapped and scenarios.is_mapped
    assert fetch.queue == "sales_org" and scenarios.queue == "adaptive_card"
    assert fetch.map_index_template and scenarios.map_index_template
    assert dag.get_task("finalize").trigger_rule == "all_done"


def test_t2a_fetches_take_the_pool_across_runs_and_the_cap_within_one(dag):
    """fetch_org alone takes a slot of the T2A pool (MAX_WORKERS_SALES slots, set wherever a
    metadata database is migrated) and keeps its per-run cap; the other tasks use the default pool."""
    fetch = dag.get_task("fetch_org")
    assert T2A_POOL == "t2a_fetch" and fetch.pool == T2A_POOL and fetch.pool_slots == 1
    assert fetch.max_active_tis_per_dagrun == settings().max_workers_sales
    assert [t.task_id for t in dag.tasks if t.pool == T2A_POOL] == ["fetch_org"]


def test_finalize_alone_records_the_card_store_asset(dag):
    """Downstream DAGs follow the cards on this asset: finalize is its one producer."""
    assert dag.get_task("finalize").outlets == [CARD_STORE_ASSET]
    assert (CARD_STORE_ASSET.name, CARD_STORE_ASSET.uri) == ("adaptive_card_store", CARD_STORE_ASSET_URI)
    assert [t.task_id for t in dag.tasks if t.outlets] == ["finalize"]


def test_params_have_titles_and_descriptions(dag):
    assert set(dag.params) == {"sales_orgs", "user_ids", "batch_size", "force_rewrite"}
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("title") and param.description, name


def test_dag_file_is_wiring_only():
    """Each task body is a single call into include/ (plus setting its map label)."""
    tree = ast.parse((DAGS / "adaptive_card_pipeline.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(
            (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "task") or getattr(d, "id", "") == "task"
            for d in node.decorator_list
        ):
            assert len(node.body) <= 3, f"task {node.name} does work in the DAG file"


def test_parsing_the_dag_does_not_import_pandas():
    """The dag-processor parses the file every 30 s and every task instance parses it again:
    pandas (~0.4 s) must load only in the tasks that run scenarios."""
    probe = (
        "import sys, runpy; runpy.run_path(sys.argv[1]);"
        " print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS / "adaptive_card_pipeline.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_plugins_folder_imports_cleanly():
    """The api-server loads plugins/; an import error there only shows up in its log."""
    from airflow import plugins_manager

    assert plugins_manager.get_import_errors() == {}
    names = {p["name"] for p in plugins_manager.get_plugin_info()}
    assert "card_preview" in names
