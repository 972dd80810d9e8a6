"""The staging area: where each organization's extracts are written, and kept as last good.

Each plan attempt of each DAG run gets its own folder ``<STAGING_URL>/runs/<run>/<plan_id>``,
so a rerun, a cleared run or a concurrent run can never merge another attempt's files
(the predecessor merged whatever CSVs lay in one folder). ``STAGING_URL`` is any
ObjectStoragePath URL: ``file:///…`` by default, ``s3://bucket/prefix`` (through the Amazon
provider and the ``aws_default`` connection) when workers run on several hosts; every path
handed between tasks is its URL string, connection included (``s3://aws_default@bucket/…``).

An organization's extracts (``orgs/<org>/<query>.csv``) are UTF-8 CSV with ``SALES_ORG_CD``
first, then the contract's headers; null is an empty cell. After a successful fetch they are
also copied to ``last_good/<org>/``, outside any run, so a later run whose fetch of that
organization fails can fall back to them (``STALE_FALLBACK_MAX_AGE_HOURS``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from airflow.sdk import ObjectStoragePath

from include.config import settings
from include.t2a_client import ORG_QUERIES, QUERIES

log = logging.getLogger(__name__)
OPENED_FILE = "opened.json"
ORG_COLUMN = "SALES_ORG_CD"


def _safe(run_id: str) -> str:
    """A path segment that stays readable and unique for any run id (they contain ':' and '+')."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", run_id)[:80]
    return f"{readable}-{hashlib.sha256(run_id.encode()).hexdigest()[:8]}"


def root() -> ObjectStoragePath:
    """``STAGING_URL``; an object-store URL that names no connection of its own
    (``s3://conn@bucket/…`` does) reads and writes through ``STAGING_CONN_ID`` (aws_default)."""
    cfg = settings()
    path = ObjectStoragePath(cfg.staging_url)
    if path.protocol in ("", "file", "local") or path.conn_id:
        return path
    return ObjectStoragePath(cfg.staging_url, conn_id=cfg.staging_conn_id)


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
    runs = _fresh(root() / "runs")
    removed = 0
    if not runs.exists():
        return 0
    for run in runs.iterdir():
        for attempt in run.iterdir():
            stamp = attempt / OPENED_FILE
            if stamp.exists() and datetime.fromisoformat(json.loads(stamp.read_text())["opened_at"]) < cutoff:
                _remove(attempt)
                removed += 1
    log.info("pruned %d staging attempts opened before %s", removed, cutoff.isoformat())
    return removed


def area_from_url(url: str) -> ObjectStoragePath:
    """Rebuild a path passed through XCom (only the URL string travels)."""
    return ObjectStoragePath(url)


def org_extract(area: ObjectStoragePath, org: str, query: str) -> ObjectStoragePath:
    return area / "orgs" / org / f"{query}.csv"


def last_good(org: str) -> ObjectStoragePath:
    """Where an organization's newest successful extracts are kept for the fallback.

    Outside any run's folder on purpose: it outlives the run that fetched it.
    """
    return root() / "last_good" / org


# --- one organization's extracts ------------------------------------------------------


def extract_header(query: str) -> bytes:
    """The header line of every extract of ``query``: ``SALES_ORG_CD``, then the contract's."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([ORG_COLUMN, *QUERIES[query].headers])
    return buf.getvalue().encode("utf-8")


def write_org_extract(area: ObjectStoragePath, org: str, query: str, rows: Iterable[list]) -> int:
    """Write one organization's validated rows for one query; returns the row count."""
    path = org_extract(area, org, query)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(extract_header(query).decode("utf-8"))
        writer = csv.writer(f, lineterminator="\n")
        for row in rows:
            writer.writerow([org, *("" if v is None else v for v in row)])
            count += 1
    return count


# --- last good: the newest successful extracts, kept for the fallback --------------------
#
# Layout: last_good/<org>/<version>/<QUERY>.csv, never changed once written, and
# last_good/<org>/current.json naming the version in force with its meta. A new copy is
# written to a new version folder, then the pointer is swapped by one rename (on S3 a
# server-side copy, which replaces an object atomically); so a reader never sees files of two
# intervals or a half-written CSV, and a writer that dies mid-copy leaves only an orphan
# folder, dropped by the next swap. Copies, swaps and reads of one org run under a per-org
# lock given by the caller (the pipeline uses a PostgreSQL advisory lock, which holds across
# hosts), and a backfill of an older interval never replaces newer data.

LockFactory = Callable[[str], AbstractContextManager]
POINTER = "current.json"
_KEPT_VERSIONS = 2  # the one in force and the one before it


def _pointer(org: str) -> dict | None:
    path = _fresh(last_good(org)) / POINTER
    return json.loads(path.read_text()) if path.exists() else None


def keep_last_good(area: ObjectStoragePath, org: str, meta: dict, *, lock: LockFactory) -> bool:
    """Make this attempt's extracts the org's last good copy, unless a newer one is in force.

    ``meta`` holds at least ``interval_end`` (ISO 8601). Returns whether the copy took over.
    """
    folder = last_good(org)
    version = f"{datetime.fromisoformat(meta['interval_end']):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    target = folder / version
    # The copy happens under the lock too: a swap drops every version but the two it keeps, so a
    # version still being written by a concurrent run must not exist outside the lock.
    with lock(org):
        current = _pointer(org)
        if current is not None and datetime.fromisoformat(current["interval_end"]) > datetime.fromisoformat(
            meta["interval_end"]
        ):
            return False
        target.mkdir(parents=True, exist_ok=True)
        for query in ORG_QUERIES:
            _copy(org_extract(area, org, query), target / f"{query}.csv")
        staged = folder / f"{POINTER}.{uuid.uuid4().hex[:8]}.tmp"
        staged.write_text(json.dumps({**meta, "version": version}, sort_keys=True))
        staged.rename(folder / POINTER)  # the swap: one rename
        _drop_old_versions(folder, keep={version, (current or {}).get("version")})
    return True


def _drop_old_versions(folder: ObjectStoragePath, keep: set) -> None:
    for child in _fresh(folder).iterdir():
        if child.is_dir() and child.name not in keep:
            _remove(child)


def restore_last_good(
    area: ObjectStoragePath, org: str, *, interval_end: str, max_age_hours: float, lock: LockFactory
) -> dict | None:
    """Put an organization's last good extracts into this attempt's area if young enough.

    Returns their meta (``interval_end``, ``period`` …) or None when there is none to use.
    """
    if max_age_hours <= 0:
        return None
    with lock(org):
        meta = _pointer(org)
        if meta is None:
            return None
        age = datetime.fromisoformat(interval_end) - datetime.fromisoformat(meta["interval_end"])
        if not timedelta(0) <= age <= timedelta(hours=max_age_hours):
            return None
        for query in ORG_QUERIES:
            destination = org_extract(area, org, query)
            destination.parent.mkdir(parents=True, exist_ok=True)
            _copy(last_good(org) / meta["version"] / f"{query}.csv", destination)
    return meta


def _fresh(path: ObjectStoragePath) -> ObjectStoragePath:
    """``path`` as the store holds it now: an object store's filesystem caches listings, which
    another process or thread may have outdated (a local folder caches nothing)."""
    path.fs.invalidate_cache(path.path)
    return path


def _remove(path: ObjectStoragePath) -> None:
    """A folder and all it holds; on object storage every object under the prefix (a prefix is
    no directory object, so ``rmdir``'s directory check can fail on a fresh one)."""
    path.fs.rm(path.path, recursive=True)


def _copy(source: ObjectStoragePath, destination: ObjectStoragePath) -> None:
    with source.open("rb") as src, destination.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
