"""Running the DAG the way a user does — plain `airflow dags test` in a subprocess — and
reading back what a run recorded. Shared by the end-to-end and fault suites."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from include import card_store
from include.config import DAG_ID
from tests.support import ARTIFACTS, ROOT

RUN_KEYS = ("run_id", "status", *card_store.runs.RUN_COUNTERS)


def command(logical_date: str, conf: dict | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, logical_date]
    return cmd + (["--conf", json.dumps(conf)] if conf else [])


def environment(staging_url: str, **overrides: str) -> dict[str, str]:
    return {
        **os.environ,
        "STAGING_URL": staging_url,
        "SUBSCRIBER_BATCH_SIZE": "30",
        "T2A_BACKOFF_BASE": "0.05",
        "T2A_BACKOFF_MAX": "0.5",
        **overrides,
    }


def save_log(name: str, text: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text(text)


def dags_test(
    pg, staging_url: str, logical_date: str, conf: dict | None = None, *, log_name: str | None = None, **env: str
) -> dict:
    """Run the DAG once to completion; return its pipeline_run row as a dict."""
    proc = subprocess.run(
        command(logical_date, conf),
        env=environment(staging_url, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    save_log(log_name or f"dags-test-{logical_date[:13]}.log", proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return pipeline_run(pg, logical_date)


def start_dags_test(staging_url: str, logical_date: str, log_path: Path, **env: str) -> subprocess.Popen:
    """Start a run in its own process group (so a test can SIGKILL it mid-work)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return subprocess.Popen(
        command(logical_date),
        env=environment(staging_url, **env),
        cwd=ROOT,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def pipeline_run(pg, logical_date: str) -> dict:
    run = card_store.runs.latest_run(pg, datetime.fromisoformat(logical_date))
    assert run, f"no pipeline_run row for {logical_date}"
    return {key: run[key] for key in RUN_KEYS}


def card_table(pg) -> list[tuple]:
    return pg.get_records(
        "SELECT user_id, scenario_id, sales_org_cd, content_hash, run_id,"
        " data_interval_end, created_at, updated_at FROM user_scenario_result"
        " ORDER BY user_id, scenario_id"
    )
