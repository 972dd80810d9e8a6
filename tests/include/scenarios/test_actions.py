"""The action registry: each action on small hand-made frames with exact numbers, and the
argument errors the actions find while a scenario file is checked."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from include.scenarios import ScenarioError
from include.scenarios.actions import REGISTRY
from include.scenarios.model import AMOUNT, COUNT, RATE, RATIO, TEXT, FrameSchema
from include.scenarios.numbers import ExactScale, fraction_ranks
from include.scenarios.preprocessor import preprocess
from tests.include.scenarios.scenario_files import BASE, write

CENTS = ExactScale(places=2, wide=False)


class HandMadeFrames:
    """A RunContext over frames built by hand (units at 2 places), for one action at a time."""

    def __init__(self, audience_count: int, **frames: pd.DataFrame):
        self.frames = frames
        self.scale = CENTS
        self.audience_count = audience_count

    def read(self, source: str) -> pd.DataFrame:
        raise AssertionError(f"these tests read no source ({source})")

    def accounts(self) -> pd.DataFrame:
        raise AssertionError("these tests read no accounts")


def cents(*values: int | None) -> pd.Series:
    return pd.Series(values, dtype="Int64")


def run_action(name: str, args: dict[str, Any], schemas: dict[str, FrameSchema], ctx: HandMadeFrames) -> pd.DataFrame:
    """Check the arguments like the preprocessor does, then run with the checked schema."""
    definition = REGISTRY[name]
    return definition.run(args, ctx, definition.output(args, schemas))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts, every kind of null (None, pd.NA, a text column's NaN) as None."""
    return [{k: (None if v is None or pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


SALES = pd.DataFrame(
    {
        "_aud": [0, 0, 0, 1, 1],
        "account": pd.Series(["A", "B", "A", "A", "C"], dtype="str"),
        "target": cents(1000, None, 0, 250, 300),
        "est": cents(500, 100, 50, None, 300),
    }
)
SALES_SCHEMA = FrameSchema({"account": TEXT, "target": AMOUNT, "est": AMOUNT})


def test_the_registry_holds_the_documented_actions() -> None:
    assert sorted(REGISTRY) == [
        "concat",
        "derive",
        "distinct",
        "entitled_accounts",
        "filter",
        "group",
        "implied_growth",
        "join",
        "number",
        "rank",
        "scope",
        "total",
    ]
    assert list(REGISTRY["rank"].params) == ["frame", "order_by", "limit", "within"]
    assert [name for name, p in REGISTRY["rank"].params.items() if p.required] == ["frame", "order_by"]


def test_scope_picks_and_renames_the_sources_columns() -> None:
    class OneSource(HandMadeFrames):
        def read(self, source: str) -> pd.DataFrame:
            assert source == "SALES_TOTAL"
            rows = pd.DataFrame(
                {
                    "_aud": [0, 1],
                    "SALES_ORG_CD": pd.Series(["5503", "5503"], dtype="str"),
                    "GSCM Account": pd.Series(["A", "B"], dtype="str"),
                    "Target Plan": cents(100, 250),
                    "Billing": cents(7, None),
                }
            )
            return rows.set_axis([5, 9])  # entitled rows keep their source index

    args = {"source": "SALES_TOTAL", "columns": {"acct": "GSCM Account", "plan": "Target Plan"}}
    out = run_action("scope", args, {}, OneSource(2))
    assert list(out.columns) == ["_aud", "acct", "plan"]
    assert records(out) == [{"_aud": 0, "acct": "A", "plan": 100}, {"_aud": 1, "acct": "B", "plan": 250}]
    assert out.index.tolist() == [0, 1]
    assert REGISTRY["scope"].output(args, {}) == FrameSchema({"acct": TEXT, "plan": AMOUNT})


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
    picked = run_action(
        "join",
        {"frame": "sales", "to": "wanted", "keys": ["account"], "how": "inner", "columns": {"points": "score"}},
        schemas,
        ctx,
    )
    assert list(picked.columns) == ["_aud", "account", "target", "est", "points"] and picked["points"].tolist() == [
        3,
        4,
    ]


def test_left_join_keeps_every_row_and_fills_what_did_not_match() -> None:
    """A lookup: each row of frame once, in its order, with to's columns or null (or `fill`)."""
    sums = pd.DataFrame(
        {
            "_aud": [0, 1],
            "account": pd.Series(["A", "A"], dtype="str"),
            "n": pd.Series([3, 4], dtype="int64"),
            "amount": cents(150, None),
            "page": pd.Series(["p_1", "p_2"], dtype="str"),
        }
    )
    schemas = {
        "sales": SALES_SCHEMA,
        "sums": FrameSchema({"account": TEXT, "n": COUNT, "amount": AMOUNT, "page": TEXT}),
    }
    ctx = HandMadeFrames(2, sales=SALES, sums=sums)
    left = run_action("join", {"frame": "sales", "to": "sums", "keys": ["account"], "how": "left"}, schemas, ctx)
    assert records(left) == [
        {"_aud": 0, "account": "A", "target": 1000, "est": 500, "n": 3, "amount": 150, "page": "p_1"},
        {"_aud": 0, "account": "B", "target": None, "est": 100, "n": None, "amount": None, "page": None},
        {"_aud": 0, "account": "A", "target": 0, "est": 50, "n": 3, "amount": 150, "page": "p_1"},
        {"_aud": 1, "account": "A", "target": 250, "est": None, "n": 4, "amount": None, "page": "p_2"},
        {"_aud": 1, "account": "C", "target": 300, "est": 300, "n": None, "amount": None, "page": None},
    ]
    assert left["n"].dtype == "Int64"  # a count stays a whole number where nothing matched
    filled = run_action(
        "join",
        {
            "frame": "sales",
            "to": "sums",
            "keys": ["account"],
            "how": "left",
            "columns": {"n": "n", "a": "amount"},
            "fill": 0,
        },
        schemas,
        ctx,
    )
    assert filled["n"].tolist() == [3, 0, 3, 4, 0] and filled["n"].dtype == "int64"
    assert records(filled)[3]["a"] is None  # a matched null stays null: fill is for rows without a match
    assert filled["a"].tolist()[:3] == [150, 0, 150]


def test_entitled_accounts_lists_every_account_of_each_audience() -> None:
    class Accounts(HandMadeFrames):
        def accounts(self) -> pd.DataFrame:
            return pd.DataFrame(
                {"_aud": [0, 0, 2], "GSCM Account": pd.Series(["A/1", "계정", "X"], dtype="str")}
            ).set_axis([4, 5, 6])

    out = run_action("entitled_accounts", {"column": "account"}, {}, Accounts(3))
    assert records(out) == [{"_aud": 0, "account": "A/1"}, {"_aud": 0, "account": "계정"}, {"_aud": 2, "account": "X"}]
    assert REGISTRY["entitled_accounts"].output({"column": "account"}, {}) == FrameSchema({"account": TEXT})


def test_number_gives_positions_in_frame_order_per_audience_and_group() -> None:
    ctx = HandMadeFrames(2, sales=SALES)
    schemas = {"sales": SALES_SCHEMA}
    out = run_action("number", {"frame": "sales", "column": "n"}, schemas, ctx)
    assert out["n"].tolist() == [1, 2, 3, 1, 2] and out["n"].dtype == "int64"
    within = run_action("number", {"frame": "sales", "column": "n", "within": ["account"]}, schemas, ctx)
    assert within["n"].tolist() == [1, 1, 2, 1, 1]
    assert REGISTRY["number"].output({"frame": "sales", "column": "n"}, schemas).columns["n"] == COUNT


def test_concat_puts_each_audiences_rows_of_the_frames_in_order() -> None:
    first = pd.DataFrame({"_aud": [1, 0], "code": pd.Series(["b1", "a1"], dtype="str"), "x": cents(1, 2)})
    second = pd.DataFrame({"_aud": [0, 1, 0], "code": pd.Series(["a2", "b2", "a3"], dtype="str"), "y": cents(7, 8, 9)})
    schemas = {"first": FrameSchema({"code": TEXT, "x": AMOUNT}), "second": FrameSchema({"code": TEXT, "y": AMOUNT})}
    ctx = HandMadeFrames(2, first=first, second=second)
    out = run_action("concat", {"frames": ["first", "second"], "columns": ["code"]}, schemas, ctx)
    assert records(out) == [
        {"_aud": 0, "code": "a1"},
        {"_aud": 0, "code": "a2"},
        {"_aud": 0, "code": "a3"},
        {"_aud": 1, "code": "b1"},
        {"_aud": 1, "code": "b2"},
    ]


def test_distinct_keeps_the_first_row_of_each_key_per_audience() -> None:
    ctx = HandMadeFrames(2, sales=SALES)
    out = run_action("distinct", {"frame": "sales", "keys": ["account"]}, {"sales": SALES_SCHEMA}, ctx)
    assert records(out) == [
        {"_aud": 0, "account": "A", "target": 1000, "est": 500},
        {"_aud": 0, "account": "B", "target": None, "est": 100},
        {"_aud": 1, "account": "A", "target": 250, "est": None},
        {"_aud": 1, "account": "C", "target": 300, "est": 300},
    ]


def test_implied_growth_is_exact_and_per_audience() -> None:
    """(b, g) = (110, 10), (50, −50) → p = 100, 100 → −20 %; g ≤ −100 and nulls are left out."""
    rows = pd.DataFrame(
        {
            "_aud": [0, 0, 0, 0, 1, 1, 2],
            "billing": cents(11000, 5000, 9900, None, 11225, -4000, 100),
            "growth": cents(1000, -5000, -10000, 500, 1225, 1000, None),
        }
    )
    schemas = {"g": FrameSchema({"billing": AMOUNT, "growth": RATE})}
    args = {"frame": "g", "amount": "billing", "growth": "growth", "column": "yoy"}
    out = run_action("implied_growth", args, schemas, HandMadeFrames(4, g=rows))
    # audience 1: (112.25 + (−40) − (100 − 36.36…)) / … exactly; 2: no usable row; 3: no row at all
    b, p = Fraction(11225, 100) - 40, Fraction(11225, 100) * 100 / Fraction(11225, 100) - Fraction(4000, 110)
    assert out["_aud"].tolist() == [0, 1, 2, 3]
    assert out["yoy"].tolist() == [Fraction(-20), (b - p) / p * 100, None, None]
    assert REGISTRY["implied_growth"].output(args, schemas) == FrameSchema({"yoy": RATIO}, per_audience=True)
    negative = pd.DataFrame({"_aud": [0], "billing": cents(-100), "growth": cents(0)})
    assert run_action("implied_growth", args, schemas, HandMadeFrames(1, g=negative))["yoy"].tolist() == [None]


def test_derive_format_writes_text_from_text_and_count_columns() -> None:
    frame = SALES.assign(n=pd.Series([1, 2, 3, 1, 12], dtype="int64"))
    schemas = {"f": FrameSchema(SALES_SCHEMA.columns | {"n": COUNT})}
    args = {
        "frame": "f",
        "columns": {"page": {"format": ["account_detail_{n}"]}, "both": {"format": ["{account}/{n}"]}},
    }
    out = run_action("derive", args, schemas, HandMadeFrames(2, f=frame))
    assert out["page"].tolist() == [
        "account_detail_1",
        "account_detail_2",
        "account_detail_3",
        "account_detail_1",
        "account_detail_12",
    ]
    assert out["both"].tolist()[:2] == ["A/1", "B/2"]
    with_null = frame.assign(account=pd.Series(["A", None, "A", "A", "C"], dtype="str"))
    out = run_action("derive", args, schemas, HandMadeFrames(2, f=with_null))
    assert out["both"].isna().tolist() == [False, True, False, False, False]
    assert REGISTRY["derive"].output(args, schemas).columns["page"] == TEXT


# --- argument errors of filter and derive, as the preprocessor reports them ---

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
        ("{format: ['page_{target}']}", "column 'target' in columns.new is amount; columns.new needs text or count"),
        ("{format: ['page_{n']}", "format in columns.new takes one text with {column} placeholders"),
        ("{format: ['page_{nothing}']}", "unknown column 'nothing' in columns.new"),
        ("{format: [page, x]}", "format in columns.new takes a list of exactly 1 arguments"),
    ],
)
def test_derive_errors(tmp_path: Path, expression: str, expected: str) -> None:
    text = BASE.replace("pages:\n", DERIVE_STEP.format(expression=expression) + "pages:\n")
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text))
    assert str(error.value).startswith("tiny.yaml, step 5 'derived' (derive): ") and expected in str(error.value)


NEW_STEP = """\
  - id: added
{step}
"""


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (
            "    action: join\n    frame: rows\n    to: per_account\n    keys: [account]\n    how: semi\n    fill: 0",
            "(join): fill is only for how: inner or left (a semi join adds no columns)",
        ),
        (
            "    action: join\n    frame: rows\n    to: per_account\n    keys: [account]\n    how: inner\n    fill: 0",
            "(join): fill is only for how: left (only a left join has unmatched rows)",
        ),
        (
            "    action: join\n    frame: rows\n    to: per_account\n    keys: [account]\n    how: left",
            "(join): left join would duplicate columns ['target', 'est_sales']; pick or rename them with columns",
        ),
        (
            "    action: join\n    frame: rows\n    to: biggest\n    keys: [account]\n    how: left\n"
            "    columns: {t: target, a: account}\n    fill: 0",
            "(join): column 'a' in fill is text; fill needs amount or count or rate",
        ),
        (
            "    action: join\n    frame: rows\n    to: per_account\n    keys: [account]\n    how: left\n"
            "    columns: {t: tgt}",
            "(join): unknown column 'tgt' in columns (frame 'per_account'); known: account, target, est_sales",
        ),
        (
            "    action: join\n    frame: rows\n    to: per_account\n    keys: [account]\n    how: left\n"
            "    columns: {t: target}\n    fill: zero",
            "(join): argument fill must be a number, got 'zero'",
        ),
        (
            "    action: number\n    frame: rows\n    column: target",
            "(number): column 'target' is already a column of 'rows'",
        ),
        (
            "    action: number\n    frame: rows\n    column: n\n    within: [target]",
            "(number): column 'target' in within is amount; within needs text",
        ),
        (
            "    action: concat\n    frames: [rows]\n    columns: [account]",
            "(concat): frames must name at least 2 frames",
        ),
        (
            "    action: concat\n    frames: [rows, totals]\n    columns: [account]",
            "(concat): unknown column 'account' in columns (frame 'totals'); known: target",
        ),
        ("    action: distinct\n    frame: rows\n    keys: [acount]", "(distinct): unknown column 'acount' in keys"),
        (
            "    action: implied_growth\n    frame: rows\n    amount: target\n    growth: est_sales\n    column: yoy",
            "(implied_growth): column 'est_sales' in growth is amount; growth needs rate",
        ),
        ("    action: entitled_accounts\n    column: 9lives", "(entitled_accounts): column name '9lives' must start"),
    ],
)
def test_new_action_argument_errors(tmp_path: Path, step: str, expected: str) -> None:
    text = BASE.replace("pages:\n", NEW_STEP.format(step=step) + "pages:\n")
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text))
    assert str(error.value).startswith("tiny.yaml, step 5 'added' " + expected), str(error.value)
