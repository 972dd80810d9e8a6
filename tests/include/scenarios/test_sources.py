"""The source catalog: the T2A queries a scenario may read, their column kinds, their entitlement."""

from __future__ import annotations

from include.scenarios.model import AMOUNT, COUNT, RATE, TEXT
from include.scenarios.sources import (
    BY_ACCOUNT,
    BY_MATERIAL_OF_PRODUCT_GROUP,
    BY_PRODUCT_GROUP,
    SOURCES,
    sources_needed,
)
from include.t2a_client import ORG_QUERIES, QUERIES

KIND_OF = {"identifier": TEXT, "amount": AMOUNT, "percent": RATE, "count": COUNT}


def test_sources_are_the_org_queries_with_the_clients_headers_and_kinds() -> None:
    """The engine reads exactly what the T2A client validated, in contract order."""
    assert set(SOURCES) == set(ORG_QUERIES)
    for name, source in SOURCES.items():
        spec = QUERIES[name]
        assert tuple(source.columns) == spec.headers, name
        assert source.columns == {h: KIND_OF[spec.kinds[h]] for h in spec.headers}, name


def test_entitlements_are_fixed_per_source() -> None:
    assert {name: source.entitlement for name, source in SOURCES.items()} == {
        "SALES_TOTAL": BY_ACCOUNT,
        "SALES_ORG": BY_PRODUCT_GROUP,
        "ORDER_STATUS": BY_MATERIAL_OF_PRODUCT_GROUP,
    }


def test_order_status_brings_sales_org_along() -> None:
    assert sources_needed(["ORDER_STATUS"]) == ("ORDER_STATUS", "SALES_ORG")
    assert sources_needed(["SALES_ORG", "ORDER_STATUS", "SALES_ORG"]) == ("SALES_ORG", "ORDER_STATUS")
    assert sources_needed(["SALES_TOTAL", "SALES_TOTAL"]) == ("SALES_TOTAL",)
    assert sources_needed([]) == ()
