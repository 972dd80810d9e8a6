"""Real pages for card tests: the T2A stand-in's synthetic ERP data (``t2a_standin.data``)
and its seeded subscribers (``t2a_standin.seed``), run through the scenario engine the way
the pipeline runs it — in process, without HTTP, staging or a database.

The data is what the stand-in serves for the same seed, read from ``Dataset.table`` with the
periods ``include.t2a_client`` would ask for, typed as ``include.merge`` reads merged files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from include.t2a_client import ORG_QUERIES, QUERIES, reporting_period
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset, date_key, month_key

AS_OF = "2026-11-26T10:00:00+00:00"
ORG_COLUMN = "SALES_ORG_CD"


@dataclass(frozen=True)
class SubscriberPages:
    user_id: str
    locale: str
    context: dict[str, str]  # sales_org_cd, currency, period, as_of: what render_cards gets
    pages: dict[str, Any]


def _frames(dataset: Dataset, as_of: str) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    import pandas as pd

    rows: dict[str, list[list]] = {query: [] for query in ORG_QUERIES}
    contexts = {}
    for org in dataset.orgs():
        period = reporting_period(datetime.fromisoformat(as_of), org["tz_offset"])
        contexts[org["code"]] = {"currency": org["currency"], "period": period.month, "as_of": as_of}
        keys = {
            "SALES_ORG": month_key(period.month, dotted=True),
            "SALES_TOTAL": month_key(period.month_compact, dotted=False),
            "ORDER_STATUS": date_key(period.date),
        }
        for query in ORG_QUERIES:
            rows[query] += [[org["code"], *row] for row in dataset.table(query, org["code"], keys[query]).rows]
    frames = {}
    for query, query_rows in rows.items():
        spec = QUERIES[query]
        frame = pd.DataFrame(query_rows, columns=[ORG_COLUMN, *spec.headers])
        for header in spec.headers:
            kind = spec.kinds[header]
            frame[header] = frame[header].astype(
                "str" if kind == "identifier" else "int64" if kind == "count" else "float64"
            )
        frame[ORG_COLUMN] = frame[ORG_COLUMN].astype("str")
        frames[query] = frame
    return frames, contexts


@cache
def standin_pages(subscribers: int = 24, as_of: str = AS_OF) -> tuple[SubscriberPages, ...]:
    """The daily_brief pages of the first ``subscribers`` seeded subscribers (seed 7, data
    seed 42: what ``python -m t2a_standin.seed`` and the stand-in give by default)."""
    from include.scenarios import load_scenario, run_batch

    dataset = Dataset(DataConfig())
    frames, contexts = _frames(dataset, as_of)
    subs = [
        dict(zip(("user_id", "display_name", "locale", "sales_org_cd", "accounts", "product_groups", "scenarios"), row))
        for row in seed.subscriber_rows(dataset, subscribers)
    ]
    locale_of = {s["user_id"]: s["locale"] for s in subs}
    found = []
    for result in run_batch(load_scenario("daily_brief"), subs, frames, contexts):
        context = {"sales_org_cd": result.sales_org_cd, **contexts[result.sales_org_cd]}
        for user_id in result.user_ids:
            pages = result.pages_for(user_id) if hasattr(result, "pages_for") else result.pages
            found.append(SubscriberPages(user_id, locale_of[user_id], context, pages))
    return tuple(sorted(found, key=lambda s: s.user_id))
