"""What a validated scenario is made of: frame schemas and where a step sits in its file."""

from __future__ import annotations

import pytest

from include.scenarios.model import AMOUNT, IDENTIFIER, TEXT, FrameSchema, Problem, Step


def test_a_frame_schema_names_the_known_columns_of_an_unknown_one() -> None:
    schema = FrameSchema({"account": TEXT, "target": AMOUNT})
    assert schema.kind("target", "sum") == AMOUNT
    with pytest.raises(Problem, match=r"^unknown column 'tgt' in sum; known: account, target$"):
        schema.kind("tgt", "sum")
    with pytest.raises(Problem, match=r"^unknown column \['target'\] in by; known: account, target$"):
        schema.kind(["target"], "by")
    with pytest.raises(Problem, match=r"^unknown column 'x' in where; known: \(none\)$"):
        FrameSchema({}).kind("x", "where")


def test_a_step_says_where_it_is() -> None:
    step = Step(3, "biggest", "rank", {}, FrameSchema({}))
    assert step.where("daily_brief.yaml") == "daily_brief.yaml, step 3 'biggest' (rank)"


def test_identifiers_start_with_a_letter() -> None:
    assert [bool(IDENTIFIER.match(s)) for s in ("a", "top_10", "A1", "_x", "1a", "a-b", "")] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]
