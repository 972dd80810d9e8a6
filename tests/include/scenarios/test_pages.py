"""Page definitions: checked against the step outputs (compile_page, through the preprocessor)
and filled per audience from computed frames (PageRenderer)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest

from include.scenarios import ScenarioError
from include.scenarios.model import AMOUNT, COUNT, RATE, RATIO, TEXT, FrameSchema
from include.scenarios.numbers import ExactScale
from include.scenarios.pages import PageRenderer, SubscriberField, compile_page
from include.scenarios.preprocessor import preprocess
from tests.include.scenarios.scenario_files import BASE, write


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  - id: accounts\n",
            "  - id: accounts\n    colour: red\n",
            "tiny.yaml, page 1 'accounts': must be a mapping with id and fields, and either list or each and page_id",
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
        (
            "{context: sales_org_cd}",
            "{subscriber: password}",
            "tiny.yaml, page 1 'accounts': field 'org': unknown subscriber field 'password'; known: display_name,",
        ),
        (
            "{account: account,",
            "{account: {subscriber: display_name},",
            "tiny.yaml, page 1 'accounts': field 'accounts.account': {subscriber} is only allowed among an object page's",
        ),
        (
            "{context: sales_org_cd}",
            "{fields: {t: target}}",
            "tiny.yaml, page 1 'accounts': field 'org': {fields} alone is only allowed inside a frame's or list's fields",
        ),
        (
            "{context: sales_org_cd}",
            "{frame: biggest, match: [account], fields: {t: target}}",
            "tiny.yaml, page 1 'accounts': field 'org': match is only allowed on a list or frame nested in",
        ),
        (
            "{account: account,",
            "{account: {frame: rows, match: [group], fields: {g: group}},",
            "tiny.yaml, page 1 'accounts': unknown column 'group' in match of 'accounts.account' (parent row)",
        ),
        (
            "{account: account,",
            "{account: {list: rows, match: [account], value: colour},",
            "tiny.yaml, page 1 'accounts': unknown column 'colour' in value of 'accounts.account'; known: account,",
        ),
        (
            "{account: account,",
            "{account: {list: rows, value: group},",
            "tiny.yaml, page 1 'accounts': field 'accounts.account': a list inside a row needs match",
        ),
    ],
)
def test_page_errors_name_file_page_and_problem(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in BASE
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, BASE.replace(old, new, 1)))
    assert str(error.value).startswith(expected), str(error.value)


SCHEMAS = {
    "totals": FrameSchema({"target": AMOUNT}, per_audience=True),
    "accounts": FrameSchema({"account": TEXT, "target": AMOUNT, "rate": RATE, "ach": RATIO, "n": COUNT}),
    "materials": FrameSchema({"account": TEXT, "material": TEXT}),
}


def test_pages_are_filled_per_audience_with_values_written_by_kind() -> None:
    """Two audiences; units at 3 places, so page values are rounded half away from zero."""
    frames = {
        "totals": pd.DataFrame({"_aud": [0, 1], "target": pd.Series([1115, -2225], dtype="Int64")}),
        "accounts": pd.DataFrame(
            {
                "_aud": [0, 0],
                "account": pd.Series(["B", "A"], dtype="str"),
                "target": pd.Series([5005, None], dtype="Int64"),
                "rate": pd.Series([12345, 50], dtype="Int64"),
                "ach": pd.Series([Fraction(200, 3), None], dtype=object),
                "n": pd.Series([3, 0], dtype="int64"),
            }
        ),
        "materials": pd.DataFrame(
            {
                "_aud": [0, 0, 0, 1],
                "account": pd.Series(["A", "B", "A", "A"], dtype="str"),
                "material": pd.Series(["m1", "m2", "m3", "mX"], dtype="str"),
            }
        ),
    }
    overview = compile_page(
        "overview",
        {
            "fields": {
                "org": {"context": "sales_org_cd"},
                "total": {"frame": "totals", "column": "target"},
                "sums": {"frame": "totals", "fields": {"t": "target"}},
                "accounts": {
                    "list": "accounts",
                    "fields": {
                        "account": "account",
                        "target": "target",
                        "rate": "rate",
                        "ach": "ach",
                        "n": "n",
                        "materials": {"list": "materials", "match": ["account"], "fields": {"m": "material"}},
                    },
                },
            }
        },
        SCHEMAS,
    )
    names = compile_page("names", {"list": "accounts", "fields": {"account": "account"}}, SCHEMAS)
    renderer = PageRenderer(
        (overview, names),
        frames,
        SCHEMAS,
        ExactScale(places=3, wide=False),
        [{"sales_org_cd": "5503"}, {"sales_org_cd": "1010"}],
    )

    assert renderer.render(0) == {
        "overview": {
            "org": "5503",
            "total": 1.12,  # 1.115
            "sums": {"t": 1.12},
            "accounts": [
                {
                    "account": "B",
                    "target": 5.01,  # 5.005
                    "rate": 12.3,  # 12.345 to one place
                    "ach": 66.7,
                    "n": 3,
                    "materials": [{"m": "m2"}],
                },
                {
                    "account": "A",
                    "target": None,
                    "rate": 0.1,  # 0.050
                    "ach": None,
                    "n": 0,
                    "materials": [{"m": "m1"}, {"m": "m3"}],
                },
            ],
        },
        "names": [{"account": "B"}, {"account": "A"}],
    }
    # audience 1 has a total but no account rows (its material row has no parent to sit in)
    assert renderer.render(1) == {
        "overview": {"org": "1010", "total": -2.23, "sums": {"t": -2.23}, "accounts": []},
        "names": [],
    }


def test_repeated_pages_nested_objects_and_value_lists() -> None:
    """One page per row, named by a column; {fields} of the row itself; {frame, match} as the
    first matching row or null; {list, value} as plain values."""
    schemas = {
        "details": FrameSchema({"account": TEXT, "page": TEXT, "target": AMOUNT, "n": COUNT}),
        "tops": FrameSchema({"account": TEXT, "group": TEXT}),
        "links": FrameSchema({"account": TEXT, "page": TEXT}),
    }
    frames = {
        "details": pd.DataFrame(
            {
                "_aud": [0, 0, 1],
                "account": pd.Series(["B", "A/1", "A/1"], dtype="str"),
                "page": pd.Series(["detail_1", "detail_2", "detail_1"], dtype="str"),
                "target": pd.Series([1005, 20, 30], dtype="Int64"),
                "n": pd.Series([3, 0, 1], dtype="int64"),
            }
        ),
        "tops": pd.DataFrame(
            {"_aud": [0, 0, 1], "account": pd.Series(["A/1", "A/1", "B"], dtype="str"), "group": ["g1", "g2", "g3"]}
        ).astype({"group": "str"}),
        "links": pd.DataFrame(
            {
                "_aud": [0, 0, 0],
                "account": pd.Series(["B", "B", "A/1"], dtype="str"),
                "page": pd.Series(["x_2", "x_1", "x_3"], dtype="str"),
            }
        ),
    }
    detail = compile_page(
        "detail",
        {
            "each": "details",
            "page_id": "page",
            "fields": {
                "account": "account",
                "figures": {"fields": {"target": "target", "n": "n"}},
                "top": {"frame": "tops", "match": ["account"], "fields": {"group": "group"}},
                "linked_from": {"list": "links", "match": ["account"], "value": "page"},
            },
        },
        schemas,
    )
    assert detail.repeated and detail.personal == ()
    hello = compile_page("hello", {"fields": {"name": {"subscriber": "display_name"}}}, schemas)
    assert hello.personal == (("name", "display_name"),) and hello.body == {"name": SubscriberField("display_name")}
    renderer = PageRenderer(
        (hello, detail), frames, schemas, ExactScale(places=2, wide=False), [{"sales_org_cd": "1"}] * 3
    )
    assert renderer.render(0) == {
        "hello": {"name": None},  # filled per user by the engine
        "detail_1": {
            "account": "B",
            "figures": {"target": 10.05, "n": 3},
            "top": None,
            "linked_from": ["x_2", "x_1"],
        },
        "detail_2": {
            "account": "A/1",
            "figures": {"target": 0.2, "n": 0},
            "top": {"group": "g1"},  # the first matching row
            "linked_from": ["x_3"],
        },
    }
    assert list(renderer.render(1)) == ["hello", "detail_1"]
    assert renderer.render(2) == {"hello": {"name": None}}  # no rows: no pages of that kind


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        (["detail_1", "detail_1"], "page 'detail': page id 'detail_1' appears twice for one audience in 'details'"),
        (
            ["detail_1", "detail_0"],
            "page 'detail': page_id 'page' of frame 'details' holds 'detail_0'; every id must be",
        ),
        (["detail_1", "other_2"], "page 'detail': page_id 'page' of frame 'details' holds 'other_2'"),
        (["detail_1", None], "page 'detail': page_id 'page' of frame 'details' holds nan"),
    ],
)
def test_repeated_page_ids_must_be_kind_and_position(ids: list[str | None], expected: str) -> None:
    schemas = {"details": FrameSchema({"page": TEXT})}
    frames = {"details": pd.DataFrame({"_aud": [0, 0], "page": pd.Series(ids, dtype="str")})}
    page = compile_page("detail", {"each": "details", "page_id": "page", "fields": {"p": "page"}}, schemas)
    renderer = PageRenderer((page,), frames, schemas, ExactScale(places=2, wide=False), [{}])
    with pytest.raises(ValueError) as error:
        renderer.render(0)
    assert str(error.value).startswith(expected), str(error.value)
