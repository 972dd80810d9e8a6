"""The preprocessor checks a scenario file completely before anything runs: every error names
the file, the step (index, id, action) or page, and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.scenarios import ScenarioError
from include.scenarios.preprocessor import preprocess
from tests.include.scenarios.scenario_files import BASE, write


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "action: rank",
            "action: sort_of",
            "tiny.yaml, step 3 'biggest' (sort_of): unknown action 'sort_of'; known: concat, derive, distinct,",
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


def test_the_scenario_knows_its_id_sources_literals_and_step_outputs(tmp_path: Path) -> None:
    text = BASE.replace(
        "pages:\n",
        "  - id: orders\n    action: scope\n    source: ORDER_STATUS\n"
        "    columns: {account: GSCM Account, late: DO Delay}\n"
        "  - id: small\n    action: filter\n    frame: rows\n    where: [target < 2.125, est_sales >= 0.5]\n"
        "pages:\n",
    )
    scenario = preprocess(write(tmp_path, text, "my_brief.yaml"))
    assert (scenario.id, scenario.file) == ("my_brief", "my_brief.yaml")
    # ORDER_STATUS is narrowed by SALES_ORG rows, which is read anyway here
    assert scenario.sources == ("SALES_ORG", "ORDER_STATUS")
    assert scenario.literal_places == 3  # 2.125
    outputs = {step.id: step.output for step in scenario.steps}
    assert outputs["orders"].columns == {"account": "text", "late": "count"}
    assert outputs["per_account"].columns == {"account": "text", "target": "amount", "est_sales": "amount"}
    assert outputs["totals"].per_audience and not outputs["biggest"].per_audience
    assert [s.index for s in scenario.steps] == [1, 2, 3, 4, 5, 6]


def test_a_step_may_not_take_a_source_name_or_be_no_mapping(tmp_path: Path) -> None:
    named_like_a_source = BASE.replace("  - id: totals", "  - id: SALES_TOTAL")
    with pytest.raises(
        ScenarioError, match=r"^tiny.yaml, step 4 'SALES_TOTAL' \(total\): step id 'SALES_TOTAL' is a source name"
    ):
        preprocess(write(tmp_path, named_like_a_source))
    with pytest.raises(ScenarioError, match=r"^tiny.yaml, step 1: must be a mapping with id, action"):
        preprocess(write(tmp_path, "steps: [just text]\npages: [{id: p, fields: {a: {context: period}}}]\n"))


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


def test_duplicate_page_id(tmp_path: Path) -> None:
    text = BASE + "  - id: accounts\n    fields: {org: {context: sales_org_cd}}\n"
    with pytest.raises(ScenarioError, match=r"^tiny.yaml, page 2 'accounts': duplicate page id 'accounts'$"):
        preprocess(write(tmp_path, text))


NUMBERED = BASE.replace(
    "pages:\n",
    "  - id: numbered\n    action: number\n    frame: biggest\n    column: n\n"
    "  - id: detail_ids\n    action: derive\n    frame: numbered\n    columns: {page: {format: ['detail_{n}']}}\n"
    "pages:\n",
)
DETAIL_PAGE = "  - id: detail\n    each: detail_ids\n    page_id: page\n    fields: {account: account}\n"


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        (
            "  - id: detail_2\n    fields: {org: {context: sales_org_cd}}\n" + DETAIL_PAGE,
            "tiny.yaml, page 3 'detail': page id 'detail_2' is also an id of the repeated page 'detail'",
        ),
        (
            DETAIL_PAGE + "  - id: detail_10\n    fields: {org: {context: sales_org_cd}}\n",
            "tiny.yaml, page 3 'detail_10': page id 'detail_10' is also an id of the repeated page 'detail'",
        ),
        (
            DETAIL_PAGE.replace("id: detail", "id: Detail"),
            "tiny.yaml, page 2 'Detail': id of a repeated page must be lower-case letters, digits and _",
        ),
        (
            DETAIL_PAGE.replace("page_id: page", "page_id: n"),
            "tiny.yaml, page 2 'detail': page_id 'n' must be a text column of 'detail_ids'",
        ),
        (
            DETAIL_PAGE.replace("page_id: page", "page_id: nothing"),
            "tiny.yaml, page 2 'detail': unknown column 'nothing' in page_id; known: account, target, est_sales, n, page",
        ),
        (
            DETAIL_PAGE.replace("each: detail_ids", "each: nowhere"),
            "tiny.yaml, page 2 'detail': field 'each': unknown frame 'nowhere'",
        ),
        (
            DETAIL_PAGE.replace("    page_id: page\n", ""),
            "tiny.yaml, page 2 'detail': must be a mapping with id and fields, and either list or each and page_id",
        ),
        (
            DETAIL_PAGE.replace("{account: account}", "{who: {subscriber: display_name}}"),
            "tiny.yaml, page 2 'detail': field 'who': {subscriber} is only allowed among an object page's own fields",
        ),
    ],
)
def test_repeated_page_errors(tmp_path: Path, pages: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as error:
        preprocess(write(tmp_path, NUMBERED + pages))
    assert str(error.value).startswith(expected), str(error.value)


def test_a_repeated_page_and_subscriber_fields_are_known_to_the_scenario(tmp_path: Path) -> None:
    text = NUMBERED.replace("      org: {context: sales_org_cd}\n", "      who: {subscriber: display_name}\n")
    scenario = preprocess(write(tmp_path, text + DETAIL_PAGE))
    assert [(p.id, p.repeated, p.personal) for p in scenario.pages] == [
        ("accounts", False, (("who", "display_name"),)),
        ("detail", True, ()),
    ]
    assert scenario.subscriber_keys == ("display_name",)
    assert preprocess(write(tmp_path, BASE)).subscriber_keys == ()


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


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^gone.yaml: cannot be read: "):
        preprocess(tmp_path / "gone.yaml")
