"""The scenario engine itself: scenarios found and loaded from the package, a second scenario
that runs without any engine change, and the data and context run_batch insists on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import include.scenarios as scenarios
from include.scenarios import ScenarioError, available_scenarios, load_scenario, run_batch
from include.scenarios.preprocessor import preprocess
from tests.include.scenarios.scenario_files import BASE, write

COLUMNS = [
    "SALES_ORG_CD",
    "GSCM Account",
    "SoldTo",
    "GSCM P/Group",
    "GSCM Product",
    "Material",
    "Target Plan",
    "Est. Sales",
    "Ach. vs Target Plan",
]


def row(org: str, account: str, group: str, material: str, target: float | None, est: float | None) -> list[Any]:
    return [org, account, "s", group, "p", material, target, est, None]


def sales_org_frame(rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS).astype(
        dict.fromkeys(COLUMNS[:6], "str") | dict.fromkeys(COLUMNS[6:], "float64")
    )


def test_a_new_scenario_runs_without_engine_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second scenario (accounts' totals from SALES_ORG) is just another YAML file."""
    write(tmp_path, BASE, "zz_account_totals_test.yaml")
    write(tmp_path, "steps: [\n", "aa_broken_test.yaml")
    write(tmp_path, BASE, "daily_brief.yaml")
    monkeypatch.setattr(scenarios, "SCENARIO_DIR", tmp_path)
    assert available_scenarios() == ["daily_brief", "aa_broken_test", "zz_account_totals_test"]
    with pytest.raises(ScenarioError, match="aa_broken_test.yaml: not valid YAML"):
        load_scenario("aa_broken_test")
    scenario = load_scenario("zz_account_totals_test")
    assert load_scenario("zz_account_totals_test") is scenario  # cached

    sales_org = sales_org_frame(
        [
            row("5503", "0050091", "PG1", "M1", 10.005, 1.0),
            row("5503", "0050091", "PG2", "M2", 20.0, None),
            row("5503", "0000007", "PG1", "M1", 40.0, 2.5),
            row("5503", "0000008", "PG1", "M1", 99.0, 0.0),  # not the subscriber's
            row("1010", "0050091", "PG1", "M1", 500.0, 5.0),  # another org
        ]
    )
    subscribers = [
        {
            "user_id": "u1",
            "sales_org_cd": "5503",
            "accounts": ["0050091", "0000007"],
            "product_groups": None,
            "locale": "ko-KR",
            "scenarios": ["zz_account_totals_test"],
        },
        {
            "user_id": "u2",
            "sales_org_cd": "5503",
            "accounts": ["0050091"],
            "product_groups": ["PG1"],
            "locale": "en-US",
            "scenarios": None,
        },
    ]
    context = {"5503": {"currency": "KRW", "period": "2026.11", "as_of": "2026-11-26T10:00:00+00:00"}}
    results = run_batch(scenario, subscribers, {"SALES_ORG": sales_org}, context)
    assert [(r.user_ids, r.pages_for(r.user_ids[0])) for r in results] == [
        (
            ["u1"],
            {
                "accounts": {
                    "org": "5503",
                    "total_target": 70.01,
                    "accounts": [
                        {"account": "0000007", "target": 40.0, "est_sales": 2.5},
                        {"account": "0050091", "target": 30.01, "est_sales": 1.0},
                    ],
                }
            },
        ),
        (
            ["u2"],
            {
                "accounts": {
                    "org": "5503",
                    "total_target": 10.01,
                    "accounts": [
                        {"account": "0050091", "target": 10.01, "est_sales": 1.0},
                    ],
                }
            },
        ),
    ]


def test_daily_brief_is_available_and_valid() -> None:
    assert available_scenarios()[0] == "daily_brief"
    scenario = load_scenario("daily_brief")
    assert [p.id for p in scenario.pages] == [
        "overview",
        "accounts",
        "product_groups",
        "operations",
        "account_detail",
        "product_group_detail",
        "model_detail",
    ]
    assert [p.id for p in scenario.pages if p.repeated] == ["account_detail", "product_group_detail", "model_detail"]
    assert scenario.subscriber_keys == ("display_name",)
    with pytest.raises(ScenarioError, match="no_such.yaml: no such scenario; available: daily_brief"):
        load_scenario("no_such")


def test_run_batch_names_missing_data_and_context(tmp_path: Path) -> None:
    scenario = preprocess(write(tmp_path, BASE))
    subscribers = [
        {"user_id": "u1", "sales_org_cd": "5503", "accounts": ["A"], "product_groups": None, "scenarios": None},
        {"user_id": "u2", "sales_org_cd": "5503", "accounts": ["A"], "product_groups": None, "scenarios": None},
    ]
    context = {"5503": {"currency": "USD", "period": "2026.11", "as_of": "2026-11-26T10:00:00+00:00"}}
    good = sales_org_frame([row("5503", "A", "PG1", "M1", 1.5, 0.5)])

    def error(data: dict, org_context: dict = context) -> str:
        with pytest.raises(ValueError) as raised:
            run_batch(scenario, subscribers, data, org_context)
        return str(raised.value)

    assert error({"SALES_TOTAL": good}) == "data has no SALES_ORG frame (have: SALES_TOTAL)"
    assert error({"SALES_ORG": good.drop(columns=["Est. Sales"])}) == "SALES_ORG data has no column 'Est. Sales'"
    assert error({"SALES_ORG": good.astype({"Target Plan": "str"})}) == (
        "SALES_ORG data column 'Target Plan' is str; a amount column is expected"
    )
    assert error({"SALES_ORG": good}, {"5503": {"currency": "USD"}}) == (
        "org_context for sales_org_cd '5503' lacks period, as_of (users u1, u2)"
    )
    assert error({"SALES_ORG": good}, {}) == (
        "org_context for sales_org_cd '5503' lacks currency, period, as_of (users u1, u2)"
    )
    [result] = run_batch(scenario, subscribers, {"SALES_ORG": good}, context)
    assert result.user_ids == ["u1", "u2"] and result.pages_for("u2")["accounts"]["total_target"] == 1.5


PERSONAL = BASE.replace(
    "      org: {context: sales_org_cd}\n",
    "      org: {context: sales_org_cd}\n      hello: {subscriber: display_name}\n",
).replace(
    "pages:\n",
    "pages:\n  - id: totals_page\n    fields:\n      total_target: {frame: totals, column: target}\n",
)


def test_subscriber_fields_are_filled_per_user_and_the_rest_is_shared(tmp_path: Path) -> None:
    """Users with equal inputs share one computation; only pages with {subscriber} fields differ."""
    scenario = preprocess(write(tmp_path, PERSONAL))
    assert scenario.subscriber_keys == ("display_name",)
    assert [p.personal for p in scenario.pages] == [(), (("hello", "display_name"),)]
    subscribers = [
        {"user_id": u, "display_name": name, "sales_org_cd": "5503", "accounts": ["A"], "product_groups": None}
        for u, name in (("u1", "Kim 김"), ("u2", "Lee"))
    ]
    context = {"5503": {"currency": "USD", "period": "2026.11", "as_of": "2026-11-26T10:00:00+00:00"}}
    data = {"SALES_ORG": sales_org_frame([row("5503", "A", "PG1", "M1", 1.5, 0.5)])}
    [result] = run_batch(scenario, subscribers, data, context)
    assert result.page_ids == ("totals_page", "accounts")
    assert list(result.shared_pages) == ["totals_page"] and list(result.templates) == ["accounts"]
    first, second = result.pages_for("u1"), result.pages_for("u2")
    assert list(first) == ["totals_page", "accounts"]
    assert (first["accounts"]["hello"], second["accounts"]["hello"]) == ("Kim 김", "Lee")
    assert list(first["accounts"]) == ["org", "hello", "total_target", "accounts"]  # the field keeps its place
    assert first["totals_page"] is second["totals_page"] is result.shared_pages["totals_page"]
    assert first["accounts"]["accounts"] is second["accounts"]["accounts"]  # filled by a shallow copy
    assert result.templates["accounts"]["hello"] is None  # the shared template is never filled in place
    assert result.personal_pages("u2") == {"accounts": second["accounts"]}

    del subscribers[1]["display_name"]
    with pytest.raises(ValueError, match=r"subscriber 'u2' has no text display_name, which tiny pages show"):
        run_batch(scenario, subscribers, data, context)
    subscribers[1]["scenarios"] = ["another"]  # not served: its row is not read
    assert [r.user_ids for r in run_batch(scenario, subscribers, data, context)] == [["u1"]]
