"""The merge of the organizations' extracts into the run's Material.csv, GSCM.csv and
OrderStatus.csv, and the reading of them back by organization.

The merge streams bytes (one header, then each planned organization's body, as staged by
``include.staging``) and records where each organization's rows sit, so a scenario batch
reads only its own organizations' byte ranges instead of parsing the whole merged file.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow.sdk import ObjectStoragePath

from include.staging import ORG_COLUMN, extract_header, org_extract
from include.t2a_client import ORG_QUERIES, QUERIES

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# Per-org query → merged file name. The first two names are the predecessor's, kept for its readers.
MERGED_FILES = dict(zip(ORG_QUERIES, ("Material.csv", "GSCM.csv", "OrderStatus.csv"), strict=True))
INDEX_FILE = "index.json"


def write_merged(area: ObjectStoragePath, orgs: list[str]) -> dict:
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
        header = extract_header(query)
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
    header = extract_header(query)
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
