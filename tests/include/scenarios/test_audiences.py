"""Audiences (subscribers with identical inputs) and the rows each may see (S, A, P)."""

from __future__ import annotations

import pandas as pd

from include.scenarios.audiences import Audience, Entitlements, group_subscribers

ORG, ACCOUNT, GROUP, MATERIAL = "SALES_ORG_CD", "GSCM Account", "GSCM P/Group", "Material"


def subscriber(user_id: str, org: str, accounts: list[str], groups: list[str] | None, scenarios=None) -> dict:
    return {
        "user_id": user_id,
        "sales_org_cd": org,
        "accounts": accounts,
        "product_groups": groups,
        "scenarios": scenarios,
    }


def test_subscribers_with_the_same_inputs_form_one_audience() -> None:
    audiences = group_subscribers(
        [
            subscriber("u1", "5503", ["A", "B"], None),
            subscriber("u2", "5503", ["B", "A", "A"], None, ["daily_brief"]),  # same sets as u1
            subscriber("u3", "5503", ["A"], ["PG1"]),
            subscriber("u4", "5503", ["A"], ["PG1"], ["other_brief"]),  # not a subscriber of daily_brief
            subscriber("u5", "1010", ["A", "B"], None),  # same accounts, other org
            subscriber("u6", "5503", ["A"], ["PG1", "PG1"]),
            subscriber("u7", "5503", ["A"], None),  # every product group is not the same as PG1
        ],
        "daily_brief",
    )
    assert audiences == [
        Audience("5503", frozenset({"A", "B"}), None, ["u1", "u2"]),
        Audience("5503", frozenset({"A"}), frozenset({"PG1"}), ["u3", "u6"]),
        Audience("1010", frozenset({"A", "B"}), None, ["u5"]),
        Audience("5503", frozenset({"A"}), None, ["u7"]),
    ]
    assert group_subscribers([subscriber("u4", "5503", ["A"], None, ["other_brief"])], "daily_brief") == []


def frame(columns: list[str], rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns).astype("str")


def seen(restricted: pd.DataFrame, *columns: str) -> set[tuple]:
    return set(zip(restricted["_aud"], *(restricted[c] for c in columns)))


def test_each_audience_sees_only_its_org_accounts_and_product_groups() -> None:
    audiences = [
        Audience("5503", frozenset({"A", "B"}), None),
        Audience("5503", frozenset({"A"}), frozenset({"PG1"})),
        Audience("1010", frozenset({"A", "B"}), None),
    ]
    sales_org = frame(
        [ORG, ACCOUNT, GROUP, MATERIAL],
        [
            ("5503", "A", "PG1", "M1"),
            ("5503", "A", "PG2", "M2"),
            ("5503", "B", "PG1", "M3"),
            ("5503", "C", "PG1", "M4"),  # nobody's account
            ("1010", "A", "PG1", "M1"),
        ],
    )
    entitlements = Entitlements(audiences, sales_org)

    assert seen(entitlements.restrict("SALES_ORG", sales_org), ACCOUNT, MATERIAL) == {
        (0, "A", "M1"),
        (0, "A", "M2"),
        (0, "B", "M3"),
        (1, "A", "M1"),  # PG1 only
        (2, "A", "M1"),
    }

    totals = frame([ORG, ACCOUNT], [("5503", "A"), ("5503", "C"), ("1010", "B")])
    assert seen(entitlements.restrict("SALES_TOTAL", totals), ACCOUNT) == {(0, "A"), (1, "A"), (2, "B")}

    # ORDER_STATUS has no product group: a restricted audience sees the materials its
    # accounts hold within its product groups according to SALES_ORG.
    orders = frame(
        [ORG, ACCOUNT, MATERIAL],
        [("5503", "A", "M1"), ("5503", "A", "M2"), ("5503", "B", "M3"), ("5503", "A", "M9"), ("1010", "A", "M1")],
    )
    assert seen(entitlements.restrict("ORDER_STATUS", orders), ACCOUNT, MATERIAL) == {
        (0, "A", "M1"),
        (0, "A", "M2"),
        (0, "B", "M3"),
        (0, "A", "M9"),
        (1, "A", "M1"),
        (2, "A", "M1"),
    }
