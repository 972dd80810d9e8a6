"""Run-scoped staging area for extracts, on local disk or shared object storage.

Each plan attempt of each DAG run gets its own folder ``<STAGING_URL>/runs/<run>/<plan_id>``,
so a rerun, a cleared run or a concurrent run can never merge another attempt's files
(the predecessor merged whatever CSVs lay in one folder). ``STAGING_URL`` is any
ObjectStoragePath URL: ``file:///…`` by default, ``s3://bucket/prefix`` with the Amazon
provider when workers run on several hosts.
"""

from __future__ import annotations

import hashlib
import re

from airflow.sdk import ObjectStoragePath

from include.config import settings


def _safe(run_id: str) -> str:
    """A path segment that stays readable and unique for any run id (they contain ':' and '+')."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)[:80]
    return f"{readable}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def root() -> ObjectStoragePath:
    return ObjectStoragePath(settings().staging_url)


def run_area(run_id: str, plan_id: str) -> ObjectStoragePath:
    return root() / "runs" / _safe(run_id) / plan_id


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
