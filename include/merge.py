"""Per-organization extract files and their merge into the run's Material.csv, GSCM.csv and
OrderStatus.csv.

Files are UTF-8 CSV with ``SALES_ORG_CD`` first, then the contract's headers; null is an
empty cell. The merge streams bytes (one header, then each planned organization's body) and
records where each organization's rows sit, so a scenario batch reads only its own
organizations' byte ranges instead of parsing the whole merged file.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import ObjectStoragePath

from include.staging import last_good, org_extract
from include.t2a_client import QUERIES

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Query → merged file name. The first two names are the predecessor's, kept for its readers.
MERGED_FILES = {"SALES_ORG": "Material.csv", "SALES_TOTAL": "GSCM.csv", "ORDER_STATUS": "OrderStatus.csv"}
ORG_COLUMN = "SALES_ORG_CD"
INDEX_FILE = "index.json"


def _header_line(query: str) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([ORG_COLUMN, *QUERIES[query].headers])
    return buf.getvalue().encode("utf-8")


def write_org_extract(area: ObjectStoragePath, org: str, query: str, rows: Iterable[list]) -> int:
    """Write one organization's validated rows for one query; returns the row count."""
    path = org_extract(area, org, query)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(_header_line(query).decode("utf-8"))
        writer = csv.writer(f, lineterminator="\n")
        for row in rows:
            writer.writerow([org, *("" if v is None else v for v in row)])
            count += 1
    return count


def keep_last_good(area: ObjectStoragePath, org: str, meta: dict) -> bool:
    """Copy an organization's fresh extracts to its last-good folder, unless a newer one is there.

    ``meta`` holds at least ``interval_end`` (ISO 8601); a backfill of an older interval never
    replaces newer data. Returns whether the copy was made.
    """
    target = last_good(org)
    current = target / "meta.json"
    if current.exists() and (
        datetime.fromisoformat(json.loads(current.read_text())["interval_end"])
        > datetime.fromisoformat(meta["interval_end"])
    ):
        return False
    target.mkdir(parents=True, exist_ok=True)
    current.unlink(missing_ok=True)  # an interrupted copy must not pass for the previous data
    for query in MERGED_FILES:
        _copy(org_extract(area, org, query), target / f"{query}.csv")
    current.write_text(json.dumps(meta, sort_keys=True))  # written last: marks a complete copy
    return True


def restore_last_good(area: ObjectStoragePath, org: str, *, interval_end: str, max_age_hours: float) -> dict | None:
    """Put an organization's last good extracts into this attempt's area if young enough.

    Returns their meta (``interval_end``, ``period`` …) or None when there is none to use.
    """
    source = last_good(org)
    if max_age_hours <= 0 or not (source / "meta.json").exists():
        return None
    meta = json.loads((source / "meta.json").read_text())
    age = datetime.fromisoformat(interval_end) - datetime.fromisoformat(meta["interval_end"])
    if not timedelta(0) <= age <= timedelta(hours=max_age_hours):
        return None
    for query in MERGED_FILES:
        destination = org_extract(area, org, query)
        destination.parent.mkdir(parents=True, exist_ok=True)
        _copy(source / f"{query}.csv", destination)
    return meta


def _copy(source: ObjectStoragePath, destination: ObjectStoragePath) -> None:
    with source.open("rb") as src, destination.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def merge_extracts(area: ObjectStoragePath, orgs: list[str]) -> dict:
    """Concatenate exactly ``orgs``' extracts (in that order) into the run's merged files.

    Returns the index ``{query: {"file": name, "orgs": {org: [offset, length]}}}``, also
    written next to the merged files. An organization missing a file is an error: the
    caller passes only organizations whose fetch succeeded in this attempt.
    """
    started = time.monotonic()
    merged_dir = area / "merged"
    merged_dir.mkdir(parents=True, exist_ok=True)
    index: dict[str, dict] = {}
    for query, name in MERGED_FILES.items():
        header = _header_line(query)
        spans: dict[str, list[int]] = {}
        with (merged_dir / name).open("wb") as out:
            out.write(header)
            offset = len(header)
            for org in orgs:
                source = org_extract(area, org, query)
                if not source.exists():
                    raise FileNotFoundError(f"sales org {org}: extract {query} missing at {source}")
                with source.open("rb") as src:
                    if src.readline() != header:
                        raise ValueError(f"sales org {org}: extract {source} has an unexpected header")
                    before = offset
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        out.write(chunk)
                        offset += len(chunk)
                spans[org] = [before, offset - before]
        index[query] = {"file": name, "orgs": spans}
    (merged_dir / INDEX_FILE).write_text(json.dumps(index, sort_keys=True))
    log.info("merged %d orgs into %s in %.2fs", len(orgs), ", ".join(MERGED_FILES.values()), time.monotonic() - started)
    return index


def _dtypes(query: str) -> tuple[dict[str, object], list[str]]:
    spec = QUERIES[query]
    dtypes: dict[str, object] = {ORG_COLUMN: str}
    nullable = []
    for header in spec.headers:
        kind = spec.kinds[header]
        if kind == "identifier":
            dtypes[header] = str
        elif kind == "count":
            dtypes[header] = "int64"
        else:
            dtypes[header] = "float64"
            nullable.append(header)
    return dtypes, nullable


def read_merged(area: ObjectStoragePath, index: dict, query: str, orgs: Iterable[str]) -> pd.DataFrame:
    """Load the given organizations' rows of one merged file with the contract's types.
    (pandas is imported here: the org fetches that import this module never need it.)"""
    import pandas as pd

    entry = index[query]
    header = _header_line(query)
    buf = io.BytesIO()
    buf.write(header)
    with (area / "merged" / entry["file"]).open("rb") as f:
        for org in sorted(set(orgs)):
            span = entry["orgs"].get(org)
            if span is None:
                continue
            f.seek(span[0])
            buf.write(f.read(span[1]))
    buf.seek(0)
    dtypes, nullable = _dtypes(query)
    return pd.read_csv(
        buf, dtype=dtypes, keep_default_na=False, na_values={col: [""] for col in nullable}, encoding="utf-8"
    )
