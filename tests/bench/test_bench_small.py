"""The benchmark runs end to end at size small and prints what issue 5 asks for.

Structural facts only — never timings (CI machines vary): every stage and the three
ratios are printed, every Airflow run went through the CeleryExecutor (each task instance
ran on the bench worker serving its queue), stage spans fit in their run, the run wrote
rows, the unchanged rerun wrote no card row, and the predecessor's loop computed the same
pages as the pipeline (so the ratio compares equal work). Runs the real thing:
`python -m bench` in a subprocess, with its own databases, api-server and Celery workers, and
a Redis database this test session claimed (BENCH_REDIS_DB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.report import STAGES
from tests.support import ROOT

AIRFLOW_RUNS = ("airflow_run", "rerun", "airflow_floor")
# The spec (README): org fetches on `sales_org`, scenario batches on `adaptive_card`, the rest
# on Airflow's default queue.
QUEUE_OF = {"fetch_org": "sales_org", "run_scenarios": "adaptive_card"}


@pytest.fixture(scope="module")
def bench_small(tmp_path_factory, redis_dbs):
    out = tmp_path_factory.mktemp("bench") / "figures.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "small", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "BENCH_REDIS_DB": str(redis_dbs["bench"].number)},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / "bench-small.txt").write_text(proc.stdout)  # the table; .ci/run prints it
    (ROOT / "artifacts" / "bench-small.log").write_text(proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_table_prints_every_stage_and_the_three_ratios(bench_small):
    table, _ = bench_small
    rows = {line.split()[0] for line in table.splitlines() if line.strip()}
    assert set(STAGES) <= rows, sorted(set(STAGES) - rows)
    for ratio in ("vs (1) per-subscriber loop", "vs (2) compute floor", "vs (3)+(2) Airflow's + compute floor"):
        assert sum(ratio in line for line in table.splitlines()) == 1, ratio
    assert "total (full run)" in table and "peak RSS" in table
    header = next(line for line in table.splitlines() if line.startswith("stage"))
    assert "wall s" in header and "task s" in header
    assert "CeleryExecutor: 2 workers, concurrency sales " in table


def test_every_airflow_run_went_through_the_celery_workers(bench_small):
    _, figures = bench_small
    executor = figures["executor"]
    assert executor["executor"] == "CeleryExecutor"
    serving = {queue: node for node, w in executor["workers"].items() for queue in w["queues"].split(",")}
    assert {node.split("@")[0] for node in executor["workers"]} == {"bench-sales", "bench-adaptive"}
    for run in AIRFLOW_RUNS:
        for task, stage in figures[run]["stages"].items():
            queue = QUEUE_OF.get(task, "default")
            assert stage["queues"] == [queue], (run, task)
            assert stage["workers"] == {serving[queue]: stage["count"]}, (run, task, stage["workers"])


def test_stage_spans_fit_in_their_run(bench_small):
    _, figures = bench_small
    for run in AIRFLOW_RUNS:
        wall = figures[run]["seconds"]
        for task, stage in figures[run]["stages"].items():
            assert 0 <= stage["seconds"] <= wall, (run, task, stage["seconds"], wall)


def test_first_run_wrote_rows_and_served_everyone(bench_small):
    _, figures = bench_small
    stages = figures["airflow_run"]["stages"]
    assert sum(sum(r["rows"].values()) for r in stages["fetch_org"]["results"]) > 0
    written = sum(r["written"] for r in stages["run_scenarios"]["results"])
    assert written == figures["subscribers"]
    assert figures["compute_floor"]["summary"]["cards_written"] == figures["subscribers"]


def test_unchanged_rerun_wrote_no_card_rows(bench_small):
    _, figures = bench_small
    results = figures["rerun"]["stages"]["run_scenarios"]["results"]
    assert sum(r["written"] for r in results) == 0
    assert sum(r["subscribers"] for r in results) == figures["subscribers"]


def test_references_ran_the_same_shape_and_the_same_work(bench_small):
    _, figures = bench_small
    real, noop = figures["airflow_run"]["stages"], figures["airflow_floor"]["stages"]
    assert {t: s["count"] for t, s in noop.items()} == {t: s["count"] for t, s in real.items()}
    matching = figures["predecessor"]["matching_pages"]
    assert matching["compared"] > 0 and matching["equal"] == matching["compared"]
