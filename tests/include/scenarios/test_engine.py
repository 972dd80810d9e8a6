"""The scenario engine itself: each action on small frames, exact numbers, every kind of
preprocessor error, and a second scenario that runs without any engine change."""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import include.scenarios as scenarios
from include.scenarios import ScenarioError, available_scenarios, load_scenario, run_batch
from include.scenarios.actions import REGISTRY
from include.scenarios.model import AMOUNT, COUNT, RATIO, TEXT, FrameSchema
from include.scenarios.numbers import ExactScale, decimal_places, fraction_ranks
from include.scenarios.preprocessor import preprocess

CENTS = ExactScale(places=2, wide=False)


class HandMadeFrames:
    """A RunContext over frames built by hand (units at 2 places), for one action at a time."""

    def __init__(self, audience_count: int, **frames: pd.DataFrame):
        self.frames = frames
        self.scale = CENTS
        self.audience_count = audience_count

    def read(self, source: str) -> pd.DataFrame:
        raise AssertionError(f"these tests read no source ({source})")


def cents(*values: int | None) -> pd.Series:
    return pd.Series(values, dtype="Int64")


def run_action(name: str, args: dict[str, Any], schemas: dict[str, FrameSchema], ctx: HandMadeFrames) -> pd.DataFrame:
    """Check the arguments like the preprocessor does, then run with the checked schema."""
    definition = REGISTRY[name]
    return definition.run(args, ctx, definition.output(args, schemas))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if v is pd.NA or v is None else v) for k, v in row.items()} for row in frame.to_dict("records")]


SALES = pd.DataFrame(
    {
        "_aud": [0, 0, 0, 1, 1],
        "account": pd.Series(["A", "B", "A", "A", "C"], dtype="str"),
        "target": cents(1000, None, 0, 250, 300),
        "est": cents(500, 100, 50, None, 300),
    }
)
SALES_SCHEMA = FrameSchema({"account": TEXT, "target": AMOUNT, "est": AMOUNT})


def test_filter_keeps_rows_meeting_every_condition_and_never_nulls() -> None:
    ctx = HandMadeFrames(2, sales=SALES)
    out = run_action(
        "filter", {"frame": "sales", "where": ["target != 0", "account == 'A'"]}, {"sales": SALES_SCHEMA}, ctx
    )
    assert records(out) == [
        {"_aud": 0, "account": "A", "target": 1000, "est": 500},
        {"_aud": 1, "account": "A", "target": 250, "est": None},
    ]
    nulls = run_action("filter", {"frame": "sales", "where": ["est is null"]}, {"sales": SALES_SCHEMA}, ctx)
    assert nulls["account"].tolist() == ["A"] and nulls["_aud"].tolist() == [1]
    decimal = run_action(
        "filter", {"frame": "sales", "where": ["target >= 2.5", "target < 10"]}, {"sales": SALES_SCHEMA}, ctx
    )
    assert decimal["target"].tolist() == [250, 300]  # 2.5 and 10 compared exactly in cents


def test_derive_sub_add_percent_and_coalesce() -> None:
    ctx = HandMadeFrames(2, sales=SALES)
    args = {
        "frame": "sales",
        "columns": {
            "gap": {"sub": ["target", "est"]},
            "both": {"add": ["target", "est", "est"]},
            "ach": {"percent": ["est", "target"]},
            "est0": {"coalesce": ["est", 0]},
        },
    }
    out = run_action("derive", args, {"sales": SALES_SCHEMA}, ctx)
    assert out["gap"].tolist()[:1] == [500] and out["gap"].isna().tolist() == [False, True, False, True, False]
    assert out["both"].isna().tolist() == [False, True, False, True, False] and out["both"][0] == 2000
    assert out["ach"].tolist() == [Fraction(50), None, None, None, Fraction(100)]  # null when target is 0 or null
    assert out["est0"].tolist() == [500, 100, 50, 0, 300]
    schema = REGISTRY["derive"].output(args, {"sales": SALES_SCHEMA})
    assert schema.columns["ach"] == RATIO and schema.columns["gap"] == AMOUNT


def test_group_sums_per_audience_and_key_with_null_as_zero() -> None:
    ctx = HandMadeFrames(2, sales=SALES)
    out = run_action(
        "group", {"frame": "sales", "by": ["account"], "sum": ["target", "est"]}, {"sales": SALES_SCHEMA}, ctx
    )
    assert records(out) == [
        {"_aud": 0, "account": "A", "target": 1000, "est": 550},
        {"_aud": 0, "account": "B", "target": 0, "est": 100},
        {"_aud": 1, "account": "A", "target": 250, "est": 0},
        {"_aud": 1, "account": "C", "target": 300, "est": 300},
    ]


def test_total_gives_every_audience_one_row_even_without_data() -> None:
    ctx = HandMadeFrames(3, sales=SALES)
    out = run_action("total", {"frame": "sales", "sum": ["target", "est"]}, {"sales": SALES_SCHEMA}, ctx)
    assert records(out) == [
        {"_aud": 0, "target": 1000, "est": 650},
        {"_aud": 1, "target": 550, "est": 300},
        {"_aud": 2, "target": 0, "est": 0},
    ]
    assert REGISTRY["total"].output({"frame": "sales", "sum": ["est"]}, {"sales": SALES_SCHEMA}).per_audience


def test_rank_orders_per_audience_and_group_drops_null_keys_and_limits() -> None:
    frame = pd.DataFrame(
        {
            "_aud": [1, 0, 0, 0, 0, 0],
            "grp": pd.Series(["x", "x", "x", "y", "x", "x"], dtype="str"),
            "name": pd.Series(["n1", "b", "a", "c", "d", "e"], dtype="str"),
            "value": cents(5, 7, 7, 1, None, 9),
        }
    )
    schemas = {"f": FrameSchema({"grp": TEXT, "name": TEXT, "value": AMOUNT})}
    ctx = HandMadeFrames(2, f=frame)
    out = run_action("rank", {"frame": "f", "order_by": ["value desc", "name"], "limit": 2}, schemas, ctx)
    assert list(zip(out["_aud"], out["name"])) == [(0, "e"), (0, "a"), (1, "n1")]
    within = run_action(
        "rank", {"frame": "f", "order_by": ["value asc", "name asc"], "within": ["grp"], "limit": 1}, schemas, ctx
    )
    assert list(zip(within["_aud"], within["grp"], within["name"])) == [(0, "x", "a"), (0, "y", "c"), (1, "x", "n1")]


def test_rank_orders_exact_ratios_that_share_a_float() -> None:
    just_above_one = Fraction(10**20 + 1, 10**20)  # float(...) == 1.0
    frame = pd.DataFrame(
        {
            "_aud": [0, 0, 0, 0],
            "name": pd.Series(["p", "q", "r", "s"], dtype="str"),
            "ratio": pd.Series([just_above_one, Fraction(1), Fraction(1, 2), Fraction(2, 2)], dtype=object),
        }
    )
    out = run_action(
        "rank",
        {"frame": "f", "order_by": ["ratio desc", "name asc"]},
        {"f": FrameSchema({"name": TEXT, "ratio": RATIO})},
        HandMadeFrames(1, f=frame),
    )
    assert out["name"].tolist() == ["p", "q", "s", "r"]
    assert fraction_ranks([just_above_one, Fraction(1), Fraction(1, 2), Fraction(2, 2)]).tolist() == [2, 1, 0, 1]


def test_join_semi_and_inner_match_within_the_audience_only() -> None:
    wanted = pd.DataFrame(
        {"_aud": [0, 1], "account": pd.Series(["B", "A"], dtype="str"), "score": pd.Series([3, 4], dtype="int64")}
    )
    schemas = {"sales": SALES_SCHEMA, "wanted": FrameSchema({"account": TEXT, "score": COUNT})}
    ctx = HandMadeFrames(2, sales=SALES, wanted=wanted)
    semi = run_action("join", {"frame": "sales", "to": "wanted", "keys": ["account"], "how": "semi"}, schemas, ctx)
    assert records(semi) == [
        {"_aud": 0, "account": "B", "target": None, "est": 100},
        {"_aud": 1, "account": "A", "target": 250, "est": None},
    ]
    inner = run_action("join", {"frame": "sales", "to": "wanted", "keys": ["account"], "how": "inner"}, schemas, ctx)
    assert inner["score"].tolist() == [3, 4] and list(inner.columns) == ["_aud", "account", "target", "est", "score"]


def test_exact_scale_rounds_half_away_from_zero_and_widens_when_needed() -> None:
    values = pd.Series([1.115, -1.115, 0.125, -0.005, np.nan, 2.675])
    assert decimal_places(values) == 3
    scale = ExactScale.fit([values], literal_places=0)
    assert scale == ExactScale(places=3, wide=False)
    units = scale.units(values)
    assert scale.render(units, 2) == [1.12, -1.12, 0.13, -0.01, None, 2.68]
    assert scale.render(pd.Series([1115 + 1110], dtype="Int64"), 2) == [2.23]  # 1.115 + 1.11
    huge = pd.Series([1234.5678901234567, 3e17])
    wide = ExactScale.fit([huge], literal_places=0)
    assert wide.wide and wide.places == 13
    assert wide.render(wide.units(huge), 2) == [1234.57, 3e17]


# --- preprocessor errors: each names the file, the step (index, id, action) and the problem ---

BASE = """\
steps:
  - id: rows
    action: scope
    source: SALES_ORG
    columns: {account: GSCM Account, group: GSCM P/Group, target: Target Plan, est_sales: Est. Sales}
  - id: per_account
    action: group
    frame: rows
    by: [account]
    sum: [target, est_sales]
  - id: biggest
    action: rank
    frame: per_account
    order_by: [target desc, account asc]
    limit: 3
  - id: totals
    action: total
    frame: rows
    sum: [target]
pages:
  - id: accounts
    fields:
      org: {context: sales_org_cd}
      total_target: {frame: totals, column: target}
      accounts:
        list: biggest
        fields: {account: account, target: target, est_sales: est_sales}
"""


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "action: rank",
            "action: sort_of",
            "tiny.yaml, step 3 'biggest' (sort_of): unknown action 'sort_of'; known: derive, filter",
        ),
        ("    sum: [target, est_sales]\n", "", "tiny.yaml, step 2 'per_account' (group): missing argument sum"),
        (
            "    limit: 3",
            "    limit: 3\n    colour: red",
            "tiny.yaml, step 3 'biggest' (rank): unknown argument colour; rank takes: frame, order_by, limit, within",
        ),
        (
            "limit: 3",
            "limit: three",
            "tiny.yaml, step 3 'biggest' (rank): argument limit must be a whole number above 0, got 'three'",
        ),
        (
            "by: [account]",
            "by: account",
            "tiny.yaml, step 2 'per_account' (group): argument by must be a non-empty list of strings",
        ),
        (
            "frame: per_account",
            "frame: per_acount",
            "tiny.yaml, step 3 'biggest' (rank): unknown frame 'per_acount' in frame; known: rows, per_account",
        ),
        (
            "order_by: [target desc",
            "order_by: [tgt desc",
            "tiny.yaml, step 3 'biggest' (rank): unknown column 'tgt' in order_by; known: account, target, est_sales",
        ),
        (
            "order_by: [target desc",
            "order_by: [target sideways",
            "tiny.yaml, step 3 'biggest' (rank): order_by entry 'target sideways' is not 'column [asc|desc]'",
        ),
        (
            "sum: [target]",
            "sum: [group]",
            "tiny.yaml, step 4 'totals' (total): column 'group' in sum is text; sum needs amount or count",
        ),
        ("  - id: totals", "  - id: biggest", "tiny.yaml, step 4 'biggest' (total): duplicate step id 'biggest'"),
        (
            "source: SALES_ORG",
            "source: SALES_ORGS",
            "tiny.yaml, step 1 'rows' (scope): unknown source 'SALES_ORGS'; known: SALES_TOTAL, SALES_ORG, ORDER_STATUS",
        ),
        (
            "Target Plan,",
            "Target  Plan,",
            "tiny.yaml, step 1 'rows' (scope): unknown column 'Target  Plan' of SALES_ORG in columns; known: GSCM Account",
        ),
        (
            "  - id: per_account\n",
            "  - id: per account\n",
            "tiny.yaml, step 2 'per account' (group): id must start with a letter",
        ),
        ("  - id: rows\n    action: scope", "  - id: rows\n", "tiny.yaml, step 1 'rows': unknown action None"),
    ],
)
def test_step_errors_name_file_step_and_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in BASE
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, BASE.replace(old, new, 1)))
    assert str(error.value).startswith(expected), str(error.value)


def test_base_scenario_is_valid(tmp_path: Path) -> None:
    scenario = preprocess(write(tmp_path, BASE))
    assert [s.id for s in scenario.steps] == ["rows", "per_account", "biggest", "totals"]
    assert [p.id for p in scenario.pages] == ["accounts"]


def test_the_documented_example_message(tmp_path: Path) -> None:
    text = """\
    steps:
      - id: G
        action: scope
        source: SALES_TOTAL
        columns: {account: GSCM Account, target: Target Plan, est_sales: Est. Sales, ach_rate: Ach. vs Target Plan}
      - id: known
        action: filter
        frame: G
        where: [target is not null]
      - id: behind
        action: filter
        frame: known
        where: [ach_rate < 100]
      - id: top_accounts
        action: rank
        frame: behind
        order_by: [ach asc]
    pages:
      - id: p
        fields: {accounts: {list: top_accounts, fields: {account: account}}}
    """
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text, "daily_brief.yaml"))
    assert str(error.value) == (
        "daily_brief.yaml, step 4 'top_accounts' (rank): unknown column 'ach' in order_by; "
        "known: account, target, est_sales, ach_rate"
    )


FILTER_STEP = """\
  - id: picked
    action: filter
    frame: rows
    where: [{condition}]
"""


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("target < 'ten'", "condition \"target < 'ten'\": 'ten' cannot stand for a value of a amount column"),
        ("account > 5", "condition 'account > 5': 5 cannot stand for a value of a text column"),
        ("target <> 5", "'> 5' is neither a number nor a quoted string"),
        ("target", "is not 'column OP literal' (OP: == != < <= > >=) or 'column is [not] null'"),
        ("target < five", "'five' is neither a number nor a quoted string"),
        ("targte is null", "unknown column 'targte' in where; known: account, group, target, est_sales"),
    ],
)
def test_filter_condition_errors(tmp_path: Path, condition: str, expected: str) -> None:
    text = BASE.replace("pages:\n", FILTER_STEP.format(condition=condition) + "pages:\n")
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text))
    assert str(error.value).startswith("tiny.yaml, step 5 'picked' (filter): ") and expected in str(error.value)


DERIVE_STEP = """\
  - id: derived
    action: derive
    frame: per_account
    columns:
      new: {expression}
"""


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "{times: [target, est_sales]}",
            "unknown operation 'times' in columns.new; known: add, sub, percent, coalesce",
        ),
        ("{sub: [target]}", "sub in columns.new takes a list of exactly 2 arguments"),
        ("{add: [target, account]}", "column 'account' in columns.new is text"),
        ("{coalesce: [target, 'zero']}", "coalesce in columns.new: 'zero' cannot stand for a value of a amount column"),
        ("{percent: [target, nothing]}", "unknown column 'nothing' in columns.new"),
    ],
)
def test_derive_errors(tmp_path: Path, expression: str, expected: str) -> None:
    text = BASE.replace("pages:\n", DERIVE_STEP.format(expression=expression) + "pages:\n")
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text))
    assert str(error.value).startswith("tiny.yaml, step 5 'derived' (derive): ") and expected in str(error.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  - id: accounts\n",
            "  - id: accounts\n    colour: red\n",
            "tiny.yaml, page 1 'accounts': must be a mapping with id, fields and optionally list",
        ),
        (
            "{frame: totals, column: target}",
            "{frame: totals, column: tgt}",
            "tiny.yaml, page 1 'accounts': unknown column 'tgt' in field 'total_target'; known: target",
        ),
        (
            "{frame: totals, column: target}",
            "{frame: biggest, column: target}",
            "tiny.yaml, page 1 'accounts': field 'total_target': frame 'biggest' may hold several rows per audience",
        ),
        (
            "{context: sales_org_cd}",
            "{context: weather}",
            "tiny.yaml, page 1 'accounts': field 'org': unknown context 'weather'; known: sales_org_cd, currency, period, as_of",
        ),
        (
            "{context: sales_org_cd}",
            "target",
            "tiny.yaml, page 1 'accounts': field 'org': a column name is only allowed inside",
        ),
        ("list: biggest", "list: smallest", "tiny.yaml, page 1 'accounts': field 'accounts': unknown frame 'smallest'"),
        (
            "{account: account,",
            "{account: acount,",
            "tiny.yaml, page 1 'accounts': unknown column 'acount' in field 'accounts.account'; known: account, target, est_sales",
        ),
        (
            "{account: account,",
            "{account: {list: rows, fields: {g: group}},",
            "tiny.yaml, page 1 'accounts': field 'accounts.account': a list inside a row needs match",
        ),
        (
            "{account: account,",
            "{account: {list: rows, match: [group], fields: {g: group}},",
            "tiny.yaml, page 1 'accounts': unknown column 'group' in match of 'accounts.account' (parent row)",
        ),
        (
            "{context: sales_org_cd}",
            "{context: sales_org_cd, column: x}",
            "tiny.yaml, page 1 'accounts': field 'org' must be a column name or one of",
        ),
    ],
)
def test_page_errors_name_file_page_and_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in BASE
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, BASE.replace(old, new, 1)))
    assert str(error.value).startswith(expected), str(error.value)


def test_duplicate_page_id(tmp_path: Path) -> None:
    text = BASE + "  - id: accounts\n    fields: {org: {context: sales_org_cd}}\n"
    with pytest.raises(ScenarioError, match=r"^tiny.yaml, page 2 'accounts': duplicate page id 'accounts'$"):
        preprocess(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps: [\n", "tiny.yaml: not valid YAML"),
        ("- just a list\n", "tiny.yaml: must be a mapping with keys steps and pages"),
        (BASE.split("pages:")[0], "tiny.yaml: missing key pages"),
        (BASE + "colour: red\n", "tiny.yaml: unknown key colour; allowed: description, pages, steps"),
        ("steps: []\npages: []\n", "tiny.yaml: steps must be a non-empty list"),
        (
            BASE.replace("pages:\n", "pages: []\n").split("  - id: accounts")[0],
            "tiny.yaml: pages must be a non-empty list",
        ),
        ("description: [1]\n" + BASE, "tiny.yaml: description must be a string"),
    ],
)
def test_file_level_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text))
    assert str(error.value).startswith(expected), str(error.value)


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

    def row(org: str, account: str, group: str, material: str, target: float | None, est: float | None) -> list[Any]:
        return [org, account, "s", group, "p", material, target, est, None]

    columns = [
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
    sales_org = pd.DataFrame(
        [
            row("5503", "0050091", "PG1", "M1", 10.005, 1.0),
            row("5503", "0050091", "PG2", "M2", 20.0, None),
            row("5503", "0000007", "PG1", "M1", 40.0, 2.5),
            row("5503", "0000008", "PG1", "M1", 99.0, 0.0),  # not the subscriber's
            row("1010", "0050091", "PG1", "M1", 500.0, 5.0),  # another org
        ],
        columns=columns,
    ).astype(dict.fromkeys(columns[:6], "str") | dict.fromkeys(columns[6:], "float64"))
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
    assert [(r.user_ids, r.pages) for r in results] == [
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
    assert [p.id for p in scenario.pages] == ["overview", "accounts", "product_groups", "operations"]
    with pytest.raises(ScenarioError, match="no_such.yaml: no such scenario; available: daily_brief"):
        load_scenario("no_such")
