"""Reference (2): the compute floor — the pipeline's work in one plain Python process.

Calls the DAG's task bodies (`include.pipeline`) in order, with nothing of Airflow around
them: no scheduler, no task runner, no XCom, no metadata database. What is left is the
work itself — fetching, merging, scenarios, cards, card-store writes — so Airflow's run of
the same bodies can be compared stage by stage. Each stage's peak RSS is measured by
resetting the process's high-water mark (/proc/self/clear_refs) before it.

Run as a module in its own process (the bench does); prints nothing, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from include import pipeline


def _peak_rss_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS


class Stages:
    """Wall time, peak RSS and call count per stage name."""

    def __init__(self) -> None:
        self.stats: dict[str, dict[str, float]] = {}

    def run(self, name: str, work: Callable[[], Any]) -> Any:
        _reset_peak_rss()
        started = time.perf_counter()
        result = work()
        seconds = time.perf_counter() - started
        entry = self.stats.setdefault(name, {"seconds": 0.0, "peak_rss": 0, "count": 0})
        entry["seconds"] += seconds
        entry["peak_rss"] = max(entry["peak_rss"], _peak_rss_bytes())
        entry["count"] += 1
        return result


def run_pipeline(run_id: str, interval_end: datetime, stages: Stages) -> dict:
    """Every task body once per task instance the DAG would run, in dependency order."""
    stages.run("migrate_schema", pipeline.migrate_schema)
    plan = stages.run("plan_run", lambda: pipeline.plan_run(run_id=run_id, interval_end=interval_end, params={}))
    orgs = stages.run("resolve_orgs", lambda: pipeline.resolve_orgs(plan))
    fetched = [stages.run("fetch_org", lambda o=org: pipeline.fetch_org(o, run_id=run_id)) for org in orgs]
    merged = stages.run("merge_extracts", lambda: pipeline.merge_extracts(plan, orgs, fetched))
    batches = stages.run("plan_batches", lambda: pipeline.plan_batches(plan, merged))
    results = [
        stages.run("run_scenarios", lambda b=batch: pipeline.run_scenarios(plan, orgs, merged, b)) for batch in batches
    ]
    return stages.run("finalize", lambda: pipeline.finalize(plan, merged, batches, results))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compute_floor", description=__doc__)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--interval-end", required=True, type=datetime.fromisoformat)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    stages = Stages()
    started = time.perf_counter()
    summary = run_pipeline(args.run_id, args.interval_end, stages)
    args.out.write_text(
        json.dumps({"seconds": time.perf_counter() - started, "stages": stages.stats, "summary": summary})
    )


if __name__ == "__main__":
    main()
