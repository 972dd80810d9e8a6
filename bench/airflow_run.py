"""One `airflow dags test --use-executor` run, measured from outside: wall time, the peak RSS
of the Celery workers' processes while it ran, and from the metadata database each task's
span, summed durations, queue and return value, plus the worker that ran it.

`dags test` schedules in its own process; with `--use-executor` every task goes to the
CeleryExecutor (bench/celery_executor.py), so task instances of one stage run side by side:
a stage's wall time is its span, earliest start to latest end.
"""

from __future__ import annotations

import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.celery_executor import CeleryExecutor
from bench.common import BenchError, run_subprocess


@dataclass
class TaskStage:
    """All task instances of one task id in a run."""

    count: int = 0
    task_seconds: float = 0.0  # sum of the instances' durations (CPU-ish task-seconds)
    first_start: datetime | None = None
    last_end: datetime | None = None
    states: set[str] = field(default_factory=set)
    queues: set[str] = field(default_factory=set)
    workers: dict[str, int] = field(default_factory=dict)  # Celery node -> instances it ran
    results: list[Any] = field(default_factory=list)  # XCom return values, in map-index order

    @property
    def seconds(self) -> float:
        """Wall time: the span from the earliest start to the latest end."""
        if self.first_start is None or self.last_end is None:
            return 0.0
        return (self.last_end - self.first_start).total_seconds()


@dataclass
class AirflowRun:
    dag_id: str
    run_id: str
    seconds: float
    task_peak_rss: int  # bytes, the heaviest process the workers started during the run
    worker_peak_rss: int  # bytes, the heaviest worker main process
    stages: dict[str, TaskStage]

    def result(self, task_id: str) -> Any:
        """The return value of an unmapped task."""
        return self.stages[task_id].results[0]


def metadata_dsn() -> str:
    """A psycopg DSN for the metadata database Airflow is configured with."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    scheme, rest = url.split("://", 1)
    if not scheme.startswith("postgresql"):
        raise BenchError(f"the bench reads task timings from PostgreSQL metadata; got a {scheme} URL")
    return f"postgresql://{rest}"


def dags_test(
    dag_id: str, logical_date: str, log_path: Path, executor: CeleryExecutor, conf: dict | None = None
) -> AirflowRun:
    cmd = [sys.executable, "-m", "airflow", "dags", "test", "--use-executor", dag_id, logical_date]
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    with executor.memory_peaks() as peaks:
        seconds, _ = run_subprocess(cmd, log_path, f"airflow dags test {dag_id} {logical_date}")
    run_id, stages = _read_run(dag_id, logical_date, executor.executed_by())
    failed = {task for task, stage in stages.items() if stage.states != {"success"}}
    if failed:
        raise BenchError(f"{dag_id} {run_id}: tasks {sorted(failed)} did not all succeed; log {log_path}")
    return AirflowRun(dag_id, run_id, seconds, peaks.task, peaks.workers, stages)


def _read_run(dag_id: str, logical_date: str, executed_by: dict[str, str]) -> tuple[str, dict[str, TaskStage]]:
    with psycopg.connect(metadata_dsn()) as conn:
        row = conn.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = %s AND logical_date = %s ORDER BY id DESC LIMIT 1",
            (dag_id, logical_date),
        ).fetchone()
        if row is None:
            raise BenchError(f"no dag_run of {dag_id} at {logical_date} in the metadata database")
        run_id = row[0]
        stages: dict[str, TaskStage] = defaultdict(TaskStage)
        for ti_id, task_id, state, queue, start, end in conn.execute(
            "SELECT id, task_id, state, queue, start_date, end_date FROM task_instance"
            " WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
            (dag_id, run_id),
        ):
            stage = stages[task_id]
            stage.count += 1
            stage.states.add(state)
            stage.queues.add(queue)
            worker = executed_by.get(str(ti_id), "none")
            stage.workers[worker] = stage.workers.get(worker, 0) + 1
            if start and end:
                stage.task_seconds += (end - start).total_seconds()
                stage.first_start = min(start, stage.first_start or start)
                stage.last_end = max(end, stage.last_end or end)
        for task_id, value in conn.execute(
            "SELECT task_id, value FROM xcom WHERE dag_id = %s AND run_id = %s AND key = 'return_value'"
            " ORDER BY task_id, map_index",
            (dag_id, run_id),
        ):
            stages[task_id].results.append(value)
    return run_id, dict(stages)
