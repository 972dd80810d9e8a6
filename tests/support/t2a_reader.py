"""A second, deliberately minimal reader of T2A (docs/contracts/t2a-api.md) for the tests'
reference: plain ``requests`` against the same connection, written from the contract alone,
so a parsing or period bug in include/t2a_client.py cannot reach both sides of a comparison.
It does no retries and accepts only well-formed answers (the stand-in without faults)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import requests

BOM = "\ufeff"


def _connection(conn_id: str) -> tuple[str, str]:
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
    return f"{conn.get('schema') or 'http'}://{conn['host']}:{conn['port']}", conn["password"]


def _query(base: str, token: str, query: str, params: dict) -> list[dict]:
    answer = requests.post(
        f"{base}/api/v1/query",
        json={"query": query, "params": params},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    answer.raise_for_status()
    content = answer.json()["meta"]["content"].removeprefix(BOM)
    if not content.strip():
        return []
    table = json.loads(content)
    if table in ({}, []):
        return []
    headers = [h.replace("\u00a0", " ") for h in table["headers"]]
    return [dict(zip(headers, row, strict=True)) for row in table["rows"]]


def _local(as_of: datetime, tz_offset: str) -> datetime:
    """The org-local time at the data interval end: TZ_OFFSET is hours from UTC ("+9", "+5.5")."""
    return as_of.astimezone(timezone(timedelta(minutes=int(Decimal(tz_offset) * 60))))


def t2a_inputs(as_of: str, conn_id: str = "t2a_api") -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Everything T2A holds for the interval ending at ``as_of``: rows as dicts per query (with
    SALES_ORG_CD), and each org's context {currency, period, as_of}."""
    base, token = _connection(conn_id)
    data: dict[str, list[dict]] = {"SALES_ORG": [], "SALES_TOTAL": [], "ORDER_STATUS": []}
    contexts = {}
    for org in _query(base, token, "SALES_ORG_LIST", {}):
        code, currency = org["SALES_ORG_CD"], org["CUR"]
        local = _local(datetime.fromisoformat(as_of), org["TZ_OFFSET"])
        contexts[code] = {"currency": currency, "period": f"{local:%Y.%m}", "as_of": as_of}
        params = {
            "SALES_ORG": {"sales_org_cd": code, "month": f"{local:%Y.%m}", "currency": currency},
            "SALES_TOTAL": {"sales_org_cd": code, "month": f"{local:%Y%m}", "currency": currency},
            "ORDER_STATUS": {"sales_org_cd": code, "date": f"{local:%Y-%m-%d}"},
        }
        for query, query_params in params.items():
            data[query] += [{"SALES_ORG_CD": code, **row} for row in _query(base, token, query, query_params)]
    return data, contexts
