"""Per-org extract files and the run's merge, on a real filesystem through ObjectStoragePath."""

from __future__ import annotations

import pandas as pd
import pytest
from airflow.sdk import ObjectStoragePath

from include import merge, staging
from include.t2a_client import QUERIES


def sales_total_row(account, target=100.0, est=50.5, ach=50.5, billing=None, growth=-3.2):
    return [account, target, est, ach, billing, growth]


@pytest.fixture
def area(tmp_path):
    return ObjectStoragePath(tmp_path.as_uri()) / "runs" / "r1" / "plan1"


def write_all(area, org, sales_total_rows, order_rows=()):
    staging.write_org_extract(area, org, "SALES_TOTAL", sales_total_rows)
    staging.write_org_extract(area, org, "SALES_ORG", [])
    staging.write_org_extract(area, org, "ORDER_STATUS", order_rows)


def test_merge_keeps_types_order_and_only_planned_orgs(area):
    write_all(
        area,
        "5503",
        [sales_total_row("0050091"), sales_total_row("서울상사", target=None, ach=None)],
        [["0050091", "M-1", 1.5, None, 0.0, 2.25, 0, 3, 1, 0, 7]],
    )
    write_all(area, "5504", [sales_total_row("NA", billing=12.0)])
    write_all(area, "9999", [sales_total_row("STALE")])  # lies in the area but is not planned
    index = merge.write_merged(area, ["5503", "5504"])

    material = (area / "merged" / "Material.csv").read_text()
    assert material.splitlines() == [",".join(["SALES_ORG_CD", *QUERIES["SALES_ORG"].headers])]
    gscm = pd.read_csv((area / "merged" / "GSCM.csv").open("rb"), dtype=str)
    assert list(gscm["SALES_ORG_CD"]) == ["5503", "5503", "5504"]
    assert "STALE" not in set(gscm["GSCM Account"])

    totals = merge.read_merged(area, index, "SALES_TOTAL", ["5504", "5503"])
    assert list(totals["GSCM Account"]) == ["0050091", "서울상사", "NA"]  # codes stay strings
    assert totals["Target Plan"].isna().tolist() == [False, True, False]
    assert totals["Billing"].tolist()[2] == 12.0
    only = merge.read_merged(area, index, "SALES_TOTAL", ["5504"])
    assert list(only["GSCM Account"]) == ["NA"]
    orders = merge.read_merged(area, index, "ORDER_STATUS", ["5503"])
    assert orders["Incomplete"].dtype == "int64" and orders["Incomplete"].tolist() == [7]
    assert orders["Open Order"].isna().tolist() == [True]
    assert merge.read_merged(area, index, "ORDER_STATUS", ["5504"]).empty


def test_merge_refuses_a_planned_org_without_extract(area):
    write_all(area, "5503", [sales_total_row("A")])
    with pytest.raises(FileNotFoundError, match="sales org 5504: extract SALES_ORG missing"):
        merge.write_merged(area, ["5503", "5504"])


def test_merge_of_a_new_attempt_never_sees_the_old_one(tmp_path):
    root = ObjectStoragePath(tmp_path.as_uri())
    old, new = root / "runs" / "r1" / "planA", root / "runs" / "r1" / "planB"
    write_all(old, "5503", [sales_total_row("OLD")])
    write_all(new, "5503", [sales_total_row("NEW")])
    index = merge.write_merged(new, ["5503"])
    assert list(merge.read_merged(new, index, "SALES_TOTAL", ["5503"])["GSCM Account"]) == ["NEW"]
