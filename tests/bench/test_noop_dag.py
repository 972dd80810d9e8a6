"""The bench's no-op DAG measures Airflow's own cost for one run of the pipeline, so it must
have the pipeline's shape: the same task ids, dependencies, mapped fan-outs, queues and
trigger rules. This compares the two graphs as Airflow parsed them."""

from __future__ import annotations

from airflow.dag_processing.dagbag import DagBag

from include.config import DAG_ID
from tests.support import ROOT


def _shape(dag) -> dict[str, tuple]:
    return {
        task.task_id: (
            tuple(sorted(task.upstream_task_ids)),
            task.is_mapped,
            task.queue,
            task.trigger_rule,
            bool(getattr(task, "map_index_template", None)),
        )
        for task in dag.tasks
    }


def test_noop_dag_has_the_pipelines_shape():
    pipeline = DagBag(dag_folder=str(ROOT / "dags")).get_dag(DAG_ID)
    noop = DagBag(dag_folder=str(ROOT / "bench" / "noop_dag")).get_dag("bench_noop_pipeline")
    assert pipeline is not None and noop is not None
    assert _shape(noop) == _shape(pipeline)
