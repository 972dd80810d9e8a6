"""The whole DAG, end to end, with plain `airflow dags test` in a subprocess: the stand-in T2A
server over HTTP, a real card-store database, a real Redis stream, a real metadata database.

One first run at T1 serves the module (``first_run``, an `airflow dags test` on a fresh card
store); each test that builds on it gets the card store back exactly as that run left it
(``after_first_run``), so the tests run alone or in any order.
"""

from __future__ import annotations

import pytest

from include import card_store, change_events
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset
from tests.conftest import CARD_TABLES, CardStoreSnapshot
from tests.support.dag_runs import card_table, dags_test
from tests.support.t2a_reader import t2a_inputs

T1 = "2026-11-26T10:00:00+00:00"
T0 = "2026-11-26T08:00:00+00:00"
T2 = "2026-11-26T12:00:00+00:00"
SUBSCRIBERS = 80


@pytest.fixture(scope="module")
def world(card_store_db, redis_db, t2a_server, tmp_path_factory):
    pg = card_store.hook()
    dataset = Dataset(DataConfig())
    return {"pg": pg, "redis": redis_db, "dataset": dataset, "staging": tmp_path_factory.mktemp("staging").as_uri()}


def run_dag(world, logical_date: str, conf: dict | None = None) -> dict:
    return dags_test(world["pg"], world["staging"], logical_date, conf)


@pytest.fixture(scope="module")
def first_run(world):
    """The module's first run at T1, on freshly seeded subscribers and an empty card store and
    change stream: {"run": its pipeline_run row, "events": the change stream right after it,
    "snapshot": the card store right after it}."""
    pg = world["pg"]
    pg.run(f"TRUNCATE {', '.join(CARD_TABLES)} RESTART IDENTITY")
    world["redis"].delete(change_events.STREAM)
    seed.seed(pg, world["dataset"], SUBSCRIBERS)
    run = run_dag(world, T1)
    events = world["redis"].xrange(change_events.STREAM)
    return {"run": run, "events": events, "snapshot": CardStoreSnapshot(pg, "dags_test_first_run")}


@pytest.fixture
def after_first_run(world, first_run):
    """The card store exactly as the first run left it, whatever tests before this one did."""
    first_run["snapshot"].restore()
    return world


def test_first_run_serves_every_subscriber(first_run, after_first_run):
    run, world = first_run["run"], after_first_run
    pg = world["pg"]
    orgs = pg.get_first("SELECT count(DISTINCT sales_org_cd) FROM card_subscriber WHERE active")[0]
    assert run["status"] == "success", run
    assert (run["orgs_fetched"], run["orgs_failed"]) == (orgs, 0)
    assert run["subscribers_served"] == SUBSCRIBERS
    assert run["cards_written"] == SUBSCRIBERS and run["dead_letters"] == 0

    rows = pg.get_records(
        "SELECT r.user_id, r.sales_org_cd, s.sales_org_cd, r.pages, r.cards"
        " FROM user_scenario_result r JOIN card_subscriber s USING (user_id)"
    )
    assert len(rows) == SUBSCRIBERS
    for user_id, stored_org, subscriber_org, pages, cards in rows:
        assert stored_org == subscriber_org
        assert list(cards) and set(cards) == set(pages), user_id
        assert pages["overview"]["as_of"].startswith("2026-11-26T10:00:00")
        assert all(card["version"] == "1.5" and card["type"] == "AdaptiveCard" for card in cards.values())

    events = first_run["events"]
    assert len(events) == SUBSCRIBERS
    assert {e[1]["run_id"] for e in events} == {run["run_id"]}


def test_stored_pages_match_an_independent_computation(after_first_run):
    world = after_first_run
    """Every subscriber's stored pages equal the plain-Decimal reading of the contract, computed
    from data fetched straight from T2A — so fetch, merge, batching and storage lose nothing."""
    from tests.support.daily_brief_reference import reference_pages

    data, contexts = t2a_inputs(T1)

    stored = world["pg"].get_records(
        "SELECT s.user_id, s.display_name, s.sales_org_cd, s.accounts, s.product_groups, r.pages"
        " FROM card_subscriber s JOIN user_scenario_result r USING (user_id)"
    )
    assert len(stored) == SUBSCRIBERS
    nonempty = 0
    for user_id, name, org, accounts, groups, pages in stored:
        subscriber = {"display_name": name, "sales_org_cd": org, "accounts": accounts, "product_groups": groups}
        expected = reference_pages(subscriber, data, contexts[org])
        assert pages == expected, user_id
        nonempty += bool(pages["overview"]["top_accounts"])
    assert nonempty > SUBSCRIBERS // 2  # the comparison is not vacuous


def test_unchanged_rerun_writes_no_card_rows(after_first_run):
    world = after_first_run
    before = card_table(world["pg"])
    events_before = world["redis"].xlen(change_events.STREAM)
    run = run_dag(world, T1)
    assert run["status"] == "success"
    assert run["cards_written"] == 0 and run["cards_unchanged"] == SUBSCRIBERS
    assert card_table(world["pg"]) == before
    assert world["redis"].xlen(change_events.STREAM) == events_before


def test_rerun_with_other_render_inputs_rewrites_the_cards(after_first_run):
    world = after_first_run
    """The unchanged-rerun shortcut must not hide a real change in what cards are made from."""
    run = dags_test(world["pg"], world["staging"], T1, ERP_BASE_URL="https://erp2.example.com")
    assert run["cards_written"] == SUBSCRIBERS
    urls = world["pg"].get_first(
        "SELECT count(*) FROM user_scenario_result WHERE cards::text LIKE '%%https://erp2.example.com/sales/%%'"
    )[0]
    assert urls == SUBSCRIBERS


def test_older_interval_overwrites_nothing_newer(after_first_run):
    world = after_first_run
    before = card_table(world["pg"])
    run = run_dag(world, T0)
    assert run["status"] == "success" and run["cards_written"] == 0
    assert card_table(world["pg"]) == before


def test_params_restrict_the_run_to_one_sales_org(after_first_run):
    world = after_first_run
    pg = world["pg"]
    org = pg.get_first("SELECT min(sales_org_cd) FROM card_subscriber")[0]
    in_org = pg.get_first("SELECT count(*) FROM card_subscriber WHERE sales_org_cd = %s", parameters=(org,))[0]
    run = run_dag(world, T2, conf={"sales_orgs": [org]})
    assert run["orgs_fetched"] == 1 and run["cards_written"] == in_org
    by_run = dict(
        pg.get_records(
            "SELECT sales_org_cd, count(DISTINCT run_id) FROM user_scenario_result"
            " WHERE data_interval_end = %s GROUP BY sales_org_cd",
            parameters=(T2,),
        )
    )
    assert by_run == {org: 1}
