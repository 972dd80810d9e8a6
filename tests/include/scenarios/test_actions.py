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
from include.scenarios.model import AMOUNT, COUNT, RATIO, TEXT, FrameSchema
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


def test_the_registry_holds_the_documented_actions() -> None:
    assert sorted(REGISTRY) == ["derive", "filter", "group", "join", "rank", "scope", "total"]
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
    ],
)
def test_derive_errors(tmp_path: Path, expression: str, expected: str) -> None:
    text = BASE.replace("pages:\n", DERIVE_STEP.format(expression=expression) + "pages:\n")
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, text))
    assert str(error.value).startswith("tiny.yaml, step 5 'derived' (derive): ") and expected in str(error.value)
