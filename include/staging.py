"""Run-scoped staging area for extracts, on local disk or shared object storage.

Each plan attempt of each DAG run gets its own folder ``<STAGING_URL>/runs/<run>/<plan_id>``,
so a rerun, a cleared run or a concurrent run can never merge another attempt's files
(the predecessor merged whatever CSVs lay in one folder). ``STAGING_URL`` is any
ObjectStoragePath URL: ``file:///…`` by default, ``s3://bucket/prefix`` with the Amazon
provider when workers run on several hosts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta

from airflow.sdk import ObjectStoragePath

from include.config import settings

log = logging.getLogger(__name__)
OPENED_FILE = "opened.json"


def _safe(run_id: str) -> str:
    """A path segment that stays readable and unique for any run id (they contain ':' and '+')."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)[:80]
    return f"{readable}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def root() -> ObjectStoragePath:
    return ObjectStoragePath(settings().staging_url)


def run_area(run_id: str, plan_id: str) -> ObjectStoragePath:
    return root() / "runs" / _safe(run_id) / plan_id


def open_area(run_id: str, plan_id: str) -> ObjectStoragePath:
    """Create a plan attempt's folder, stamped with when it was opened (for pruning)."""
    area = run_area(run_id, plan_id)
    area.mkdir(parents=True, exist_ok=True)
    (area / OPENED_FILE).write_text(json.dumps({"run_id": run_id, "opened_at": datetime.now(UTC).isoformat()}))
    return area


def prune(older_than: timedelta) -> int:
    """Delete plan attempts opened longer ago than ``older_than``; returns how many.

    The last-good extracts are kept: they live outside ``runs/``.
    """
    cutoff = datetime.now(UTC) - older_than
    runs = root() / "runs"
    removed = 0
    if not runs.exists():
        return 0
    for run in runs.iterdir():
        for attempt in run.iterdir():
            stamp = attempt / OPENED_FILE
            if stamp.exists() and datetime.fromisoformat(json.loads(stamp.read_text())["opened_at"]) < cutoff:
                attempt.rmdir(recursive=True)
                removed += 1
    log.info("pruned %d staging attempts opened before %s", removed, cutoff.isoformat())
    return removed


def area_from_url(url: str) -> ObjectStoragePath:
    """Rebuild a path passed through XCom (only the URL string travels)."""
    return ObjectStoragePath(url)


def org_extract(area: ObjectStoragePath, org: str, query: str) -> ObjectStoragePath:
    return area / "orgs" / org / f"{query}.csv"


def last_good(org: str) -> ObjectStoragePath:
    """Where an organization's newest successful extracts are kept for the stale fallback.

    Outside any run's folder on purpose: it outlives the run that fetched it.
    """
    return root() / "last_good" / org
