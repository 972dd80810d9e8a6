"""The DAG's task bodies (include/pipeline.py) called directly, in the DAG's order, against the
real card store, the T2A stand-in over HTTP, a run-scoped staging area under tmp_path (or in an
S3 bucket on moto's server, where a test says ``staging_kind`` "s3") and the
test Redis database — what each step returns and what it leaves behind."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from include import change_events, merge, pipeline, scenarios, staging
from include.t2a_client import reporting_period
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset, preset
from t2a_standin.server import serve_in_thread
from tests.support import fault_table
from tests.support.daily_brief_reference import reference_pages
from tests.support.s3_server import new_bucket
from tests.support.t2a_reader import t2a_inputs

T1 = datetime(2026, 11, 26, 10, tzinfo=UTC)
SUBSCRIBERS = 20
PAGES = ["overview", "accounts", "product_groups", "operations"]
DETAIL_PAGE = re.compile(r"(account_detail|product_group_detail|model_detail)_[1-9][0-9]*")


@pytest.fixture
def staging_kind():
    """Where `world` stages: "file" (tmp_path); a test parametrizes it to "s3" as well."""
    return "file"


@pytest.fixture
def world(request, staging_kind, pg, redis_db, t2a_server, tmp_path, monkeypatch):
    """Seeded subscribers, an empty staging area and an empty change stream."""
    if staging_kind == "s3":
        monkeypatch.setenv("STAGING_URL", f"s3://{new_bucket(request.getfixturevalue('s3_endpoint'))}/staging")
    else:
        monkeypatch.setenv("STAGING_URL", tmp_path.as_uri())
    redis_db.delete(change_events.STREAM)
    dataset = Dataset(preset("small"))
    seed.seed(pg, dataset, SUBSCRIBERS)
    orgs = pg.get_records("SELECT DISTINCT sales_org_cd FROM card_subscriber ORDER BY 1")
    return SimpleNamespace(pg=pg, redis=redis_db, dataset=dataset, orgs=[o[0] for o in orgs], staging=staging.root())


def run_all(run_id: str, interval_end: datetime = T1, params: dict | None = None) -> SimpleNamespace:
    """Every task body once per task instance the DAG would run (as bench/compute_floor.py)."""
    plan = pipeline.plan_run(run_id=run_id, interval_end=interval_end, params=params or {})
    orgs = pipeline.resolve_orgs(plan)
    fetched = [pipeline.fetch_org(org, run_id=run_id) for org in orgs]
    merged = pipeline.merge_extracts(plan, orgs, fetched)
    batches = pipeline.plan_batches(plan, merged)
    results = [pipeline.run_scenarios(plan, orgs, merged, batch) for batch in batches]
    summary = pipeline.finalize(plan, merged, batches, results)
    return SimpleNamespace(
        plan=plan, orgs=orgs, fetched=fetched, merged=merged, batches=batches, results=results, summary=summary
    )


def run_row(pg, run_id: str) -> dict:
    columns = ("status", "orgs_fetched", "orgs_failed", "orgs_fallback", "subscribers_served")
    columns += ("cards_written", "cards_unchanged", "dead_letters")
    row = pg.get_first(
        f"SELECT {', '.join(columns)}, finished_at IS NOT NULL FROM pipeline_run WHERE run_id = %s",
        parameters=(run_id,),
    )
    return {**dict(zip(columns, row)), "finished": row[-1]}


def test_every_task_in_order_serves_every_subscriber(world):
    pg = world.pg
    assert pipeline.migrate_schema() == []  # the session's store is migrated already

    plan = pipeline.plan_run(run_id="run-1", interval_end=T1, params={"batch_size": 8})
    assert {k: plan[k] for k in ("run_id", "interval_end", "candidates", "batch_size", "force_rewrite")} == {
        "run_id": "run-1",
        "interval_end": "2026-11-26T10:00:00+00:00",
        "candidates": SUBSCRIBERS,
        "batch_size": 8,
        "force_rewrite": False,
    }
    area = ObjectStoragePath(plan["area"])
    assert area.path.startswith(world.staging.path) and plan["plan_id"] in plan["area"]
    candidates = json.loads((area / pipeline.CANDIDATES_FILE).read_text())
    assert [c["user_id"] for c in candidates] == [f"u{n:05d}" for n in range(1, SUBSCRIBERS + 1)]
    assert pg.get_first("SELECT status FROM pipeline_run WHERE run_id = 'run-1'")[0] == "running"

    orgs = pipeline.resolve_orgs(plan)
    assert [o["sales_org_cd"] for o in orgs] == world.orgs
    known = {o["code"]: o for o in world.dataset.orgs()}
    for org in orgs:
        assert (org["currency"], org["tz_offset"]) == (
            known[org["sales_org_cd"]]["currency"],
            known[org["sales_org_cd"]]["tz_offset"],
        )
        assert org["period"] == reporting_period(T1, org["tz_offset"]).month
        assert (org["plan_id"], org["area"], org["interval_end"]) == (
            plan["plan_id"],
            plan["area"],
            plan["interval_end"],
        )
    servable = json.loads((area / pipeline.SUBSCRIBERS_FILE).read_text())
    assert len(servable) == SUBSCRIBERS

    fetched = [pipeline.fetch_org(org, run_id="run-1") for org in orgs]
    assert [(f["sales_org_cd"], f["status"], f["plan_id"]) for f in fetched] == [
        (code, "ok", plan["plan_id"]) for code in world.orgs
    ]
    for f in fetched:
        for query, count in f["rows"].items():
            extract = area / "orgs" / f["sales_org_cd"] / f"{query}.csv"
            assert len(extract.read_text().splitlines()) == 1 + count  # the header and every row
    assert sum(f["rows"]["SALES_ORG"] for f in fetched) > 0

    merged = pipeline.merge_extracts(plan, orgs, fetched)
    assert (merged["orgs_served"], merged["orgs_ok"], merged["orgs_fallback"], merged["orgs_failed"]) == (
        world.orgs,
        world.orgs,
        {},
        [],
    )
    assert merged["rows"] == {q: sum(f["rows"][q] for f in fetched) for q in merge.MERGED_FILES}
    for query, name in merge.MERGED_FILES.items():
        lines = (area / "merged" / name).read_text().splitlines()
        assert len(lines) == 1 + merged["rows"][query]

    batches = pipeline.plan_batches(plan, merged)
    assert [(b["batch"], b["of"], b["size"]) for b in batches] == [(1, 3, 8), (2, 3, 8), (3, 3, 4)]
    by_org = sorted(servable, key=lambda s: (s["sales_org_cd"], s["user_id"]))
    for b in batches:
        members = json.loads((area / "batches" / f"{b['batch']:04d}.json").read_text())
        assert members == by_org[(b["batch"] - 1) * 8 : b["batch"] * 8]
        assert b["orgs"] == sorted({m["sales_org_cd"] for m in members})

    results = [pipeline.run_scenarios(plan, orgs, merged, batch) for batch in batches]
    assert results == [
        {
            "batch": b["batch"],
            "subscribers": b["size"],
            "dead_letters": 0,
            "written": b["size"],
            "unchanged": 0,
            "kept_newer": 0,
        }
        for b in batches
    ]
    stored = pg.get_records(
        "SELECT r.user_id, r.run_id, r.data_interval_end, r.sales_org_cd, s.sales_org_cd, r.pages, r.cards,"
        " r.render_key IS NOT NULL, s.display_name FROM user_scenario_result r JOIN card_subscriber s USING (user_id)"
    )
    assert len(stored) == SUBSCRIBERS
    for user_id, run_id, interval_end, stored_org, org, pages, cards, keyed, name in stored:
        assert (run_id, interval_end, stored_org, keyed) == ("run-1", T1, org, True), user_id
        assert set(pages) == set(cards) and set(PAGES) <= set(pages)
        assert all(DETAIL_PAGE.fullmatch(page_id) for page_id in set(pages) - set(PAGES)), sorted(pages)
        assert pages["overview"]["sales_org_cd"] == org and pages["overview"]["as_of"] == "2026-11-26T10:00:00+00:00"
        assert pages["overview"]["display_name"] == name  # per user, also where inputs (and pages) are shared
    # every stored page, display_name included, is the contract's plain reading of T2A's data
    data, contexts = t2a_inputs(T1.isoformat())
    for user_id, org, accounts, groups, name, pages in pg.get_records(
        "SELECT s.user_id, s.sales_org_cd, s.accounts, s.product_groups, s.display_name, r.pages"
        " FROM card_subscriber s JOIN user_scenario_result r USING (user_id)"
    ):
        subscriber = {"sales_org_cd": org, "accounts": accounts, "product_groups": groups, "display_name": name}
        assert pages == reference_pages(subscriber, data, contexts[org]), user_id
    assert pg.get_first("SELECT count(*) FROM card_change_outbox WHERE published_at IS NULL")[0] == SUBSCRIBERS
    assert world.redis.xlen(change_events.STREAM) == 0  # nothing is announced before finalize

    summary = pipeline.finalize(plan, merged, batches, results)
    counts = {
        "orgs_fetched": len(world.orgs),
        "orgs_failed": 0,
        "orgs_fallback": 0,
        "subscribers_served": SUBSCRIBERS,
        "cards_written": SUBSCRIBERS,
        "cards_unchanged": 0,
        "dead_letters": 0,
    }
    assert summary == {**counts, "status": "success", "events_published": SUBSCRIBERS}
    assert run_row(pg, "run-1") == {"status": "success", **counts, "finished": True}
    events = [fields for _, fields in world.redis.xrange(change_events.STREAM)]
    assert sorted(e["user_id"] for e in events) == [c["user_id"] for c in candidates]
    assert {e["run_id"] for e in events} == {"run-1"}
    assert {e["change"] for e in events} == {"written"}
    assert pg.get_first("SELECT count(*) FROM card_change_outbox WHERE published_at IS NULL")[0] == 0


def test_a_second_run_of_the_same_interval_writes_and_announces_nothing(world):
    first = run_all("run-1")
    assert first.summary["cards_written"] == SUBSCRIBERS
    before = world.pg.get_records(
        "SELECT user_id, run_id, content_hash, updated_at FROM user_scenario_result ORDER BY 1"
    )

    again = run_all("run-2")
    assert [r["written"] for r in again.results] == [0]
    assert again.summary == {**first.summary, "cards_written": 0, "cards_unchanged": SUBSCRIBERS, "events_published": 0}
    assert (
        world.pg.get_records("SELECT user_id, run_id, content_hash, updated_at FROM user_scenario_result ORDER BY 1")
        == before
    )
    assert world.redis.xlen(change_events.STREAM) == SUBSCRIBERS

    forced = run_all("run-3", params={"force_rewrite": True})
    assert forced.plan["force_rewrite"] is True
    assert (forced.summary["cards_written"], forced.summary["events_published"]) == (SUBSCRIBERS, SUBSCRIBERS)


def test_merge_extracts_takes_only_this_plans_fetch_results(world):
    old = pipeline.plan_run(run_id="run-1", interval_end=T1, params={})
    plan = pipeline.plan_run(run_id="run-1", interval_end=T1, params={})  # the run's plan, re-run
    assert plan["plan_id"] != old["plan_id"] and plan["area"] != old["area"]
    old_orgs, orgs = pipeline.resolve_orgs(old), pipeline.resolve_orgs(plan)
    stale = pipeline.fetch_org(old_orgs[0], run_id="run-1")
    fetched = [pipeline.fetch_org(org, run_id="run-1") for org in orgs]

    # XComs of the earlier attempt (one of them a failure) and of vanished map indices
    handed_over = [*fetched, {**stale, "status": "failed", "error": "from the old plan"}, None]
    merged = pipeline.merge_extracts(plan, orgs, handed_over)
    assert (merged["orgs_ok"], merged["orgs_failed"]) == (world.orgs, [])
    assert merged["rows"] == {q: sum(f["rows"][q] for f in fetched) for q in merge.MERGED_FILES}
    assert (ObjectStoragePath(plan["area"]) / "merged" / "index.json").exists()
    assert not (ObjectStoragePath(old["area"]) / "merged").exists()

    # only the old plan's results: nothing of this plan to merge
    with pytest.raises(RuntimeError) as raised:
        pipeline.merge_extracts(plan, orgs, [stale])
    assert str(raised.value) == f"plan {plan['plan_id']}: no fetch result for sales orgs {world.orgs}"


def test_unservable_subscribers_become_dead_letters_and_the_run_partial(world):
    pg = world.pg
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts, scenarios, active) VALUES"
        " ('x_org', 'No such org', 'en-US', '9999', ARRAY['A'], NULL, true),"
        " ('x_scn', 'One bad scenario', 'ko-KR', %s, ARRAY['A'], ARRAY['daily_brief', 'no_such'], true),"
        " ('x_off', 'Inactive', 'en-US', '9999', ARRAY['A'], NULL, false)",
        parameters=(world.orgs[0],),
    )
    run = run_all("run-1")

    assert run.plan["candidates"] == SUBSCRIBERS + 2  # the inactive one is no candidate
    assert [o["sales_org_cd"] for o in run.orgs] == world.orgs  # 9999 is never fetched
    letters = pg.get_records(
        "SELECT stage, item_key, error, payload->>'scenario_id' FROM pipeline_dead_letter WHERE run_id = 'run-1' ORDER BY item_key"
    )
    assert letters == [
        ("subscriber", "x_org", "user x_org: sales_org_cd '9999' is not in T2A's SALES_ORG_LIST", None),
        (
            "subscriber",
            "x_scn:no_such",
            "user x_scn: scenario 'no_such' is not defined (known: daily_brief)",
            "no_such",
        ),
    ]
    servable = json.loads((ObjectStoragePath(run.plan["area"]) / pipeline.SUBSCRIBERS_FILE).read_text())
    assert [s["scenarios"] for s in servable if s["user_id"] == "x_scn"] == [["daily_brief"]]
    assert "x_org" not in {s["user_id"] for s in servable}

    stored = dict(pg.get_records("SELECT user_id, sales_org_cd FROM user_scenario_result"))
    assert len(stored) == SUBSCRIBERS + 1 and stored["x_scn"] == world.orgs[0] and "x_org" not in stored
    assert run.summary["status"] == "partial"
    assert (run.summary["dead_letters"], run.summary["subscribers_served"]) == (2, SUBSCRIBERS + 1)
    assert run_row(pg, "run-1")["status"] == "partial"


def test_any_exception_for_one_subscriber_is_their_dead_letter_and_the_batch_stores_the_others(world, monkeypatch):
    """Faults injected where no data we can make would raise (the engine, the renderer), with
    exceptions that are not card errors: each costs only its own subscriber."""
    pg = world.pg
    # 'twin' has u00003's inputs (one audience with it); its computation raises
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts, product_groups,"
        " scenarios, active) SELECT 'twin', 'Twin', locale, sales_org_cd, accounts, product_groups, scenarios, active"
        " FROM card_subscriber WHERE user_id = 'u00003'"
    )
    pg.run("UPDATE card_subscriber SET display_name = 'Crashes the renderer' WHERE user_id = 'u00011'")
    engine = scenarios.run_batch
    renderer = pipeline.render_cards

    def run_batch(scn, subs, data, context):
        if any(s["user_id"] == "twin" for s in subs):
            raise KeyError("GSCM Account")
        return engine(scn, subs, data, context)

    def render_cards(scenario_id, pages, locale, **kwargs):
        if any(page.get("display_name") == "Crashes the renderer" for page in pages.values() if isinstance(page, dict)):
            raise RecursionError("maximum recursion depth exceeded")
        return renderer(scenario_id, pages, locale, **kwargs)

    monkeypatch.setattr(scenarios, "run_batch", run_batch)
    monkeypatch.setattr(pipeline, "render_cards", render_cards)
    run = run_all("run-1", params={"batch_size": 50})  # one batch holds all 21

    assert [(r["subscribers"], r["dead_letters"], r["written"]) for r in run.results] == [
        (SUBSCRIBERS + 1, 2, SUBSCRIBERS - 1)
    ]
    letters = pg.get_records(
        "SELECT stage, item_key, error, payload->>'user_id' FROM pipeline_dead_letter WHERE run_id = 'run-1' ORDER BY 2"
    )
    assert letters == [
        ("scenario", "twin:daily_brief", "KeyError: 'GSCM Account'", "twin"),
        ("scenario", "u00011:daily_brief", "RecursionError: maximum recursion depth exceeded", "u00011"),
    ]
    assert (run.summary["status"], run.summary["subscribers_served"], run.summary["dead_letters"]) == (
        "partial",
        SUBSCRIBERS - 1,
        2,
    )
    # the others, u00003 (twin's audience) too, hold exactly the contract's pages
    data, contexts = t2a_inputs(T1.isoformat())
    stored = pg.get_records(
        "SELECT s.user_id, s.sales_org_cd, s.accounts, s.product_groups, s.display_name, r.pages"
        " FROM card_subscriber s JOIN user_scenario_result r USING (user_id)"
    )
    assert sorted(row[0] for row in stored) == sorted({f"u{n:05d}" for n in range(1, SUBSCRIBERS + 1)} - {"u00011"})
    inexact = [
        user_id
        for user_id, org, accounts, groups, name, pages in stored
        if pages
        != reference_pages(
            {"sales_org_cd": org, "accounts": accounts, "product_groups": groups, "display_name": name},
            data,
            contexts[org],
        )
    ]
    fault_table.record(
        "one subscriber's computation (KeyError) or card rendering (RecursionError) raises",
        "that subscriber's `scenario` dead letter (type: message); the batch stores everyone else, exactly",
        f"{len(letters)} dead letters {[key for _, key, *_ in letters]}; {len(stored)} of {SUBSCRIBERS - 1} others"
        f" stored, {len(inexact)} differing from the reference; run {run.summary['status']}",
        not inexact,
    )
    assert inexact == []


@pytest.mark.parametrize("staging_kind", ["file", "s3"])
def test_a_failed_fetch_is_dead_lettered_and_falls_back_to_the_last_good_data(world, t2a_token, monkeypatch):
    first = run_all("run-1")
    assert first.plan["area"].startswith(str(world.staging))  # s3://aws_default@bucket/… on S3
    assert first.summary["status"] == "success"
    fallback_org, failed_org = world.orgs[0], world.orgs[1]
    # the failed org has no last good data (as if it never had a good fetch)
    (world.staging / "last_good" / failed_org / "current.json").unlink()

    later = T1 + timedelta(hours=2)
    faults = [
        {"kind": "status", "status": 503, "org": code, "query": "SALES_TOTAL"} for code in (fallback_org, failed_org)
    ]
    monkeypatch.setenv("T2A_MAX_ATTEMPTS", "1")
    with serve_in_thread(DataConfig(), t2a_token, faults=faults) as faulty:
        monkeypatch.setenv(
            "AIRFLOW_CONN_T2A_API",
            json.dumps(
                {"conn_type": "http", "host": faulty.host, "port": faulty.port, "schema": "http", "password": t2a_token}
            ),
        )
        plan = pipeline.plan_run(run_id="run-2", interval_end=later, params={})
        orgs = pipeline.resolve_orgs(plan)
        fetched = {f["sales_org_cd"]: f for f in (pipeline.fetch_org(org, run_id="run-2") for org in orgs)}

    first_fetch = {f["sales_org_cd"]: f for f in first.fetched}
    assert fetched[fallback_org] == {
        "sales_org_cd": fallback_org,
        "plan_id": plan["plan_id"],
        "status": "fallback",
        "error": fetched[fallback_org]["error"],
        "rows": first_fetch[fallback_org]["rows"],
        "as_of": "2026-11-26T10:00:00+00:00",
        "period": first.orgs[0]["period"],
    }
    assert fetched[fallback_org]["error"].startswith(f"sales org {fallback_org}, query SALES_TOTAL: ")
    assert {k: fetched[failed_org][k] for k in ("status", "plan_id")} == {
        "status": "failed",
        "plan_id": plan["plan_id"],
    }
    assert {f["status"] for code, f in fetched.items() if code not in (fallback_org, failed_org)} == {"ok"}
    letters = world.pg.get_records(
        "SELECT item_key, stage, attempts, payload->'queries'->'SALES_TOTAL'->>'sales_org_cd' FROM pipeline_dead_letter"
        " WHERE run_id = 'run-2' ORDER BY item_key"
    )
    assert letters == sorted([(fallback_org, "fetch", 1, fallback_org), (failed_org, "fetch", 1, failed_org)])

    merged = pipeline.merge_extracts(plan, orgs, list(fetched.values()))
    assert merged["orgs_failed"] == [failed_org]
    assert merged["orgs_fallback"] == {
        fallback_org: {"as_of": "2026-11-26T10:00:00+00:00", "period": first.orgs[0]["period"]}
    }
    assert failed_org not in merged["orgs_served"] and fallback_org in merged["orgs_served"]

    batches = pipeline.plan_batches(plan, merged)
    served = [
        s
        for b in batches
        for s in json.loads((ObjectStoragePath(plan["area"]) / "batches" / f"{b['batch']:04d}.json").read_text())
    ]
    assert failed_org not in {s["sales_org_cd"] for s in served}
    results = [pipeline.run_scenarios(plan, orgs, merged, batch) for batch in batches]
    summary = pipeline.finalize(plan, merged, batches, results)

    assert (summary["status"], summary["orgs_fallback"], summary["orgs_failed"], summary["dead_letters"]) == (
        "partial",
        1,
        1,
        2,
    )
    as_of = dict(
        world.pg.get_records(
            "SELECT sales_org_cd, max(pages->'overview'->>'as_of') FROM user_scenario_result GROUP BY 1"
        )
    )
    assert as_of[fallback_org] == "2026-11-26T10:00:00+00:00"  # the cards say which data time they show
    # the failed org's subscribers keep the cards they had
    kept = world.pg.get_records(
        "SELECT DISTINCT run_id FROM user_scenario_result WHERE sales_org_cd = %s", parameters=(failed_org,)
    )
    assert kept == [("run-1",)]


def test_finalize_of_a_run_with_a_lost_batch_records_failed_and_still_publishes(world):
    plan = pipeline.plan_run(run_id="run-1", interval_end=T1, params={"batch_size": 8})
    orgs = pipeline.resolve_orgs(plan)
    merged = pipeline.merge_extracts(plan, orgs, [pipeline.fetch_org(org, run_id="run-1") for org in orgs])
    batches = pipeline.plan_batches(plan, merged)
    done = [pipeline.run_scenarios(plan, orgs, merged, batch) for batch in batches[:-1]]

    with pytest.raises(AirflowFailException, match=r"^run run-1: incomplete \(missing batches \[3\]\)"):
        pipeline.finalize(plan, merged, batches, [*done, None])
    row = run_row(world.pg, "run-1")
    assert (row["status"], row["cards_written"], row["subscribers_served"], row["finished"]) == ("failed", 16, 16, True)
    assert world.redis.xlen(change_events.STREAM) == 16  # what was stored is announced all the same

    # an upstream task failed before any batch was planned
    pipeline.plan_run(run_id="run-2", interval_end=T1, params={})
    with pytest.raises(AirflowFailException, match=r"^run run-2: incomplete \(missing batches \[\]\)"):
        pipeline.finalize({**plan, "run_id": "run-2"}, None, None, [])
    assert run_row(world.pg, "run-2") == {
        "status": "failed",
        "orgs_fetched": 0,
        "orgs_failed": 0,
        "orgs_fallback": 0,
        "subscribers_served": 0,
        "cards_written": 0,
        "cards_unchanged": 0,
        "dead_letters": 0,
        "finished": True,
    }


def test_interval_end_of_a_manual_run_is_its_run_after():
    scheduled = {"data_interval_end": T1, "dag_run": SimpleNamespace(run_after=T1 + timedelta(minutes=5))}
    manual = {"data_interval_end": None, "dag_run": SimpleNamespace(run_after=T1 + timedelta(minutes=5))}
    assert pipeline.interval_end(scheduled) == T1
    assert pipeline.interval_end(manual) == T1 + timedelta(minutes=5)


def test_canonical_json_is_the_same_text_for_the_same_content():
    assert pipeline.canonical_json({"b": [1, {"é": None}], "a": 1.5}) == '{"a":1.5,"b":[1,{"é":null}]}'
    assert pipeline.canonical_json({"a": 1, "b": 2}) == pipeline.canonical_json({"b": 2, "a": 1})


def test_a_users_json_spliced_from_shared_and_own_texts_is_canonical_json():
    """run_scenarios serializes shared pages once per audience and splices each user's JSON:
    it must be byte for byte what canonical_json of the whole would be (same content hash)."""
    pages = {
        "model_detail_10": {"b": [1.5, None]},
        "overview": {"display_name": "김 / Kim", "z": {"é": 1}},
        "accounts": [],
        "model_detail_2": {},
        "가": 1,
        "Z": "x",
    }
    assert pipeline._object_json(pipeline._texts(pages)) == pipeline.canonical_json(pages)
    assert pipeline._object_json({}) == pipeline.canonical_json({})


def _faulty_t2a(monkeypatch, token: str, faults: list[dict]):
    """A stand-in with these faults, wired as connection t2a_api for the rest of the test."""
    monkeypatch.setenv("T2A_MAX_ATTEMPTS", "1")
    server = serve_in_thread(DataConfig(), token, faults=faults)
    faulty = server.__enter__()
    monkeypatch.setenv(
        "AIRFLOW_CONN_T2A_API",
        json.dumps(
            {"conn_type": "http", "host": faulty.host, "port": faulty.port, "schema": "http", "password": token}
        ),
    )
    return server


def test_no_bad_value_or_broken_write_of_one_org_stops_the_run(world, t2a_token, monkeypatch):
    first = run_all("run-1")
    assert first.summary["status"] == "success"
    surrogate_org, infinite_org, broken_org = world.orgs[0], world.orgs[1], world.orgs[2]
    faults = [
        {"kind": "malformed", "variant": "lone_surrogate", "org": surrogate_org, "query": "ORDER_STATUS"},
        {"kind": "malformed", "variant": "infinite_number", "org": infinite_org, "query": "SALES_TOTAL"},
    ]
    server = _faulty_t2a(monkeypatch, t2a_token, faults)
    try:
        later = T1 + timedelta(hours=2)
        plan = pipeline.plan_run(run_id="run-2", interval_end=later, params={})
        orgs = pipeline.resolve_orgs(plan)
        # staging refuses this org's writes: its folder is a file
        (ObjectStoragePath(plan["area"]) / "orgs").mkdir(parents=True, exist_ok=True)
        (ObjectStoragePath(plan["area"]) / "orgs" / broken_org).write_text("not a folder")
        fetched = {f["sales_org_cd"]: f for f in (pipeline.fetch_org(org, run_id="run-2") for org in orgs)}
    finally:
        server.__exit__(None, None, None)

    # the malformed orgs fall back to run-1's data; the broken org cannot even restore it there
    statuses = {code: fetched[code]["status"] for code in (surrogate_org, infinite_org, broken_org)}
    assert statuses == {surrogate_org: "fallback", infinite_org: "fallback", broken_org: "failed"}
    errors = dict(world.pg.get_records("SELECT item_key, error FROM pipeline_dead_letter WHERE run_id = 'run-2'"))
    assert errors[surrogate_org] == (
        f"sales org {surrogate_org}, query ORDER_STATUS: row 1, column 'GSCM Account':"
        ' "\\ud800" is not a valid Unicode string'
    )
    assert errors[infinite_org].startswith(f"sales org {infinite_org}, query SALES_TOTAL: row 1, column ")
    assert "is not a finite number or null" in errors[infinite_org]
    assert errors[broken_org].startswith(f"sales org {broken_org}: ")
    # malformed data was never kept as last good: the fallback is still run-1's data
    meta = json.loads((world.staging / "last_good" / surrogate_org / "current.json").read_text())
    assert meta["interval_end"] == "2026-11-26T10:00:00+00:00"

    merged = pipeline.merge_extracts(plan, orgs, list(fetched.values()))
    batches = pipeline.plan_batches(plan, merged)
    results = [pipeline.run_scenarios(plan, orgs, merged, batch) for batch in batches]
    summary = pipeline.finalize(plan, merged, batches, results)
    assert (summary["status"], summary["orgs_fallback"], summary["orgs_failed"]) == ("partial", 2, 1)
    broken_subscribers = world.pg.get_first(
        "SELECT count(*) FROM card_subscriber WHERE sales_org_cd = %s", parameters=(broken_org,)
    )[0]
    assert summary["subscribers_served"] == SUBSCRIBERS - broken_subscribers


def test_an_org_code_unsafe_for_a_path_is_skipped_with_a_dead_letter(world, t2a_token, monkeypatch):
    server = _faulty_t2a(
        monkeypatch, t2a_token, [{"kind": "malformed", "variant": "unsafe_org", "query": "SALES_ORG_LIST"}]
    )
    try:
        plan = pipeline.plan_run(run_id="run-1", interval_end=T1, params={})
        orgs = pipeline.resolve_orgs(plan)
    finally:
        server.__exit__(None, None, None)
    first_org = world.dataset.orgs()[0]["code"]
    assert "../etc" not in [o["sales_org_cd"] for o in orgs] and first_org not in [o["sales_org_cd"] for o in orgs]
    assert orgs, "the other organizations are still fetched"
    letters = world.pg.get_records("SELECT stage, error FROM pipeline_dead_letter WHERE stage = 'sales_org'")
    assert letters == [
        ("sales_org", "query SALES_ORG_LIST: row 1: SALES_ORG_CD '../etc' holds a path separator"),
    ]
    assert not (world.staging / "last_good" / "..").exists()


def test_a_response_over_the_size_cap_is_a_dead_letter_and_the_run_goes_on(world, monkeypatch):
    first = run_all("run-1")
    assert first.summary["status"] == "success"
    monkeypatch.setenv("T2A_MAX_RESPONSE_BYTES", "3000")  # every org's SALES_ORG answer is larger
    second = run_all("run-2", interval_end=T1 + timedelta(hours=2))
    capped = sorted(f["sales_org_cd"] for f in second.fetched if f["status"] == "fallback")
    # an org without data answers small bodies and is fetched as usual
    assert all(sum(f["rows"].values()) == 0 for f in second.fetched if f["status"] == "ok")
    assert len(capped) >= len(world.orgs) - 1
    errors = dict(world.pg.get_records("SELECT item_key, error FROM pipeline_dead_letter WHERE run_id = 'run-2'"))
    assert sorted(errors) == capped
    assert all("over the 3,000-byte cap (T2A_MAX_RESPONSE_BYTES)" in e for e in errors.values()), errors
    assert (second.summary["status"], second.summary["orgs_fallback"]) == ("partial", len(capped))


def test_readers_no_longer_subscribed_lose_their_cards_at_the_next_run_whatever_its_params(world):
    first = run_all("run-1")
    assert first.summary["cards_written"] == SUBSCRIBERS
    pg = world.pg
    pg.run("UPDATE card_subscriber SET active = false WHERE user_id = 'u00001'")
    pg.run("DELETE FROM card_subscriber WHERE user_id = 'u00002'")
    pg.run("UPDATE card_subscriber SET scenarios = '{some_other}' WHERE user_id = 'u00003'")
    pg.run("UPDATE card_subscriber SET scenarios = NULL WHERE user_id = 'u00004'")  # NULL: every scenario
    world.redis.delete(change_events.STREAM)

    # a manual run narrowed to one other user still withdraws
    second = run_all("run-2", interval_end=T1 + timedelta(hours=2), params={"user_ids": ["u00010"]})
    assert second.plan["withdrawn"] == 3
    kept = {u for (u,) in pg.get_records("SELECT user_id FROM user_scenario_result")}
    assert kept == {f"u{n:05d}" for n in range(4, SUBSCRIBERS + 1)}
    events = [fields for _, fields in world.redis.xrange(change_events.STREAM)]
    withdrawn = sorted((e["user_id"], e["change"], e["content_hash"]) for e in events if e["change"] == "withdrawn")
    assert withdrawn == [(f"u0000{n}", "withdrawn", "") for n in (1, 2, 3)]
    # a third run finds nothing more to withdraw
    assert run_all("run-3", interval_end=T1 + timedelta(hours=4)).plan["withdrawn"] == 0
