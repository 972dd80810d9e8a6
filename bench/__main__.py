"""The pipeline benchmark: `python -m bench --size small|medium|large` (or `bench/run.sh`).

In one run, on one isolated workload (see bench/workload.py):
  1. the compute floor — the task bodies in one plain process (bench/compute_floor.py);
  2. the full pipeline with `airflow dags test --use-executor` on the CeleryExecutor
     (bench/celery_executor.py: api-server + one worker per queue), then an unchanged rerun;
  3. Airflow's floor — the same DAG shape doing nothing (bench/noop_dag/), same executor;
  4. the predecessor's per-subscriber pandas loop (bench/predecessor_loop.py) on a sample.
Prints the per-stage table, the three ratios and the targets; writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import report
from bench.airflow_run import dags_test
from bench.celery_executor import celery_executor
from bench.common import ROOT, BenchError, run_subprocess
from bench.workload import SIZES, card_store_writes, isolated_world, reset_card_results

LOGICAL_DATE = "2026-11-26T10:00:00+00:00"


def _python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def measure(size_name: str, logs: Path) -> dict:
    size = SIZES[size_name]
    figures: dict = {
        "size": size_name,
        "subscribers": size.subscribers,
        "sales_org_rows": size.data.sales_org_rows_total,
        "orgs": size.data.orgs,
        "batch_size": size.batch_size,
    }
    started = time.monotonic()
    with isolated_world(size, logs), tempfile.TemporaryDirectory(prefix="acp_bench_out_") as work_dir:
        work = Path(work_dir)
        log(
            f"workload ready: {size.data.orgs} orgs, {size.data.sales_org_rows_total:,} SALES_ORG rows,"
            f" {size.subscribers:,} subscribers"
        )

        log("compute floor (one plain process)")
        floor_out = work / "compute_floor.json"
        seconds, peak = run_subprocess(
            _python_module(
                "bench.compute_floor",
                "--run-id",
                "bench_compute_floor",
                "--interval-end",
                LOGICAL_DATE,
                "--out",
                str(floor_out),
            ),
            logs / "compute-floor.log",
            "compute floor",
        )
        figures["compute_floor"] = json.loads(floor_out.read_text()) | {
            "process_seconds": seconds,
            "process_peak_rss": peak,
        }
        reset_card_results()  # the Airflow run starts from the same empty card store

        log("starting the CeleryExecutor's api-server and workers")
        with celery_executor(logs) as executor:
            figures["executor"] = executor.describe()
            log("full run: airflow dags test --use-executor adaptive_card_pipeline")
            with card_store_writes() as written:
                first = dags_test("adaptive_card_pipeline", LOGICAL_DATE, logs / "dags-test-first.log", executor)
            figures["airflow_run"] = report.run_figures(first) | {"store": written}
            log("unchanged rerun of the same interval")
            with card_store_writes() as written:
                rerun = dags_test("adaptive_card_pipeline", LOGICAL_DATE, logs / "dags-test-rerun.log", executor)
            figures["rerun"] = report.run_figures(rerun) | {"store": written}

            orgs, batches = first.stages["fetch_org"].count, first.stages["run_scenarios"].count
            log(f"Airflow's floor: no-op DAG of the same shape ({orgs} orgs, {batches} batches)")
            noop = dags_test(
                "bench_noop_pipeline",
                LOGICAL_DATE,
                logs / "dags-test-noop.log",
                executor,
                conf={"orgs": orgs, "batches": batches},
            )
            figures["airflow_floor"] = report.run_figures(noop)

        log(f"predecessor's per-subscriber loop on {size.predecessor_sample} subscribers")
        figures["predecessor"] = _predecessor(first, size.predecessor_sample, work, logs)
    figures["bench_seconds"] = time.monotonic() - started
    return figures


def _predecessor(first, sample: int, work: Path, logs: Path) -> dict:
    """Time the loop on the first run's merged files and servable subscribers."""
    plan = first.result("plan_run")
    area = Path(plan["area"].removeprefix("file://"))
    contexts = {
        o["sales_org_cd"]: {"currency": o["currency"], "period": o["period"], "as_of": plan["interval_end"]}
        for o in first.result("resolve_orgs")
    }
    (work / "contexts.json").write_text(json.dumps(contexts))
    out = work / "predecessor.json"
    _seconds, peak = run_subprocess(
        _python_module(
            "bench.predecessor_loop",
            "--merged-dir",
            str(area / "merged"),
            "--subscribers",
            str(area / "subscribers.json"),
            "--contexts",
            str(work / "contexts.json"),
            "--sample",
            str(sample),
            "--out",
            str(out),
        ),
        logs / "predecessor.log",
        "predecessor loop",
    )
    result = json.loads(out.read_text())
    result["matching_pages"] = report.matching_pages(result.pop("pages"))
    return result | {"process_peak_rss": peak}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write the figures as JSON (default artifacts/bench-<size>.json)",
    )
    args = parser.parse_args()
    # stdout carries the table only: whatever else writes to fd 1 (Airflow's log handlers,
    # the stand-in's request log) goes to stderr.
    table_out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.getLogger("t2a_standin").setLevel(logging.WARNING)  # one line per request
    logs = ROOT / "artifacts" / f"bench-{args.size}"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        figures = measure(args.size, logs)
    except BenchError as exc:
        log(f"FAILED: {exc}")
        return 1
    out = args.out or ROOT / "artifacts" / f"bench-{args.size}.json"
    out.write_text(json.dumps(figures, indent=2, default=str))
    print(report.render(figures), file=table_out, flush=True)
    log(f"figures written to {out}; logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
