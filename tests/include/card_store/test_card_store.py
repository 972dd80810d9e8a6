"""Card store against a real PostgreSQL: migrations, the interval-ordered upsert, dead letters,
and the outbox published to a real Redis stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from include import card_store, change_events

T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)


def rows(content: str, users=("u1", "u2", "u3")) -> list[card_store.results.CardRow]:
    return [
        card_store.results.CardRow(
            u,
            "daily_brief",
            "5503",
            json.dumps({"overview": {"v": content}}),
            json.dumps({"overview": {"type": "AdaptiveCard"}}),
            f"hash-{content}",
        )
        for u in users
    ]


def table(pg) -> list[tuple]:
    return pg.get_records(
        "SELECT user_id, content_hash, run_id, data_interval_end, created_at, updated_at"
        " FROM user_scenario_result ORDER BY user_id"
    )


def test_migrate_is_idempotent_and_accepts_existing_subscriber_table(pg):
    assert card_store.schema.migrate(pg) == []
    # The card service often creates card_subscriber first: a fresh schema with only that table.
    pg.run(
        "DROP TABLE IF EXISTS card_store_migration, user_scenario_result, pipeline_dead_letter,"
        " pipeline_run, card_change_outbox"
    )
    assert card_store.schema.migrate(pg) == ["001_card_store", "002_render_key", "003_lz4_cards"]
    names = {
        r[0] for r in pg.get_records("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    }
    assert {
        "card_subscriber",
        "user_scenario_result",
        "pipeline_dead_letter",
        "pipeline_run",
        "card_change_outbox",
    } <= names
    compression = dict(
        pg.get_records(
            "SELECT attname, attcompression FROM pg_attribute"
            " WHERE attrelid = 'user_scenario_result'::regclass AND attname IN ('pages', 'cards')"
        )
    )
    assert compression == {"pages": "l", "cards": "l"}  # lz4


def test_first_write_then_unchanged_rerun_writes_nothing(pg):
    first = card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    assert first.as_dict() == {"written": 3, "unchanged": 0, "kept_newer": 0}
    before = table(pg)
    again = card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    assert again.as_dict() == {"written": 0, "unchanged": 3, "kept_newer": 0}
    assert table(pg) == before  # same run, same content: not even updated_at moves
    outbox = pg.get_first("SELECT count(*) FROM card_change_outbox")[0]
    assert outbox == 3


def test_another_run_of_the_same_interval_writes_nothing(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    before = table(pg)
    counts = card_store.results.store_cards(pg, rows("a"), run_id="r2", interval_end=T0)
    assert counts.as_dict() == {"written": 0, "unchanged": 3, "kept_newer": 0}
    assert table(pg) == before


def test_unchanged_content_of_a_later_interval_is_confirmed_not_rewritten(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    before = {r[0]: r for r in table(pg)}
    later = T0 + timedelta(hours=2)
    counts = card_store.results.store_cards(pg, rows("a"), run_id="r2", interval_end=later)
    assert counts.written == 0 and counts.unchanged == 3
    for user, content_hash, run_id, interval_end, created_at, updated_at in table(pg):
        assert (content_hash, run_id, interval_end) == ("hash-a", "r2", later)
        assert created_at == before[user][4]
        assert updated_at > before[user][5]
    assert pg.get_first("SELECT count(*) FROM card_change_outbox")[0] == 3  # no event for a confirmation


def test_older_interval_never_overwrites_newer_cards(pg):
    card_store.results.store_cards(pg, rows("new"), run_id="r-new", interval_end=T0)
    before = table(pg)
    counts = card_store.results.store_cards(pg, rows("old"), run_id="r-old", interval_end=T0 - timedelta(hours=2))
    assert counts.as_dict() == {"written": 0, "unchanged": 0, "kept_newer": 3}
    assert table(pg) == before


def test_changed_content_replaces_row_and_queues_one_event(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    counts = card_store.results.store_cards(
        pg, rows("b", users=("u2",)), run_id="r2", interval_end=T0 + timedelta(hours=2)
    )
    assert counts.written == 1
    stored = {r[0]: r for r in table(pg)}
    assert stored["u2"][1] == "hash-b" and stored["u1"][1] == "hash-a"
    assert stored["u2"][4] > stored["u1"][4]  # new content: new created_at
    events = pg.get_records("SELECT user_id, content_hash, run_id FROM card_change_outbox WHERE run_id = 'r2'")
    assert events == [("u2", "hash-b", "r2")]


def test_force_rewrites_unchanged_content(pg):
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    counts = card_store.results.store_cards(pg, rows("a"), run_id="r2", interval_end=T0, force=True)
    assert counts.written == 3


def test_failed_batch_leaves_nothing_behind(pg):
    bad = [*rows("a"), card_store.results.CardRow("u9", "daily_brief", "5503", "{not json", "{}", "h")]
    with pytest.raises(Exception, match="json"):
        card_store.results.store_cards(pg, bad, run_id="r1", interval_end=T0)
    assert table(pg) == []
    assert pg.get_first("SELECT count(*) FROM card_change_outbox")[0] == 0


def test_dead_letter_rerun_updates_instead_of_duplicating(pg):
    for attempts in (1, 4):
        card_store.dead_letters.record(
            pg,
            run_id="r1",
            stage="fetch",
            item_key="5503",
            payload={"sales_org_cd": "5503"},
            error=f"boom {attempts}",
            attempts=attempts,
        )
    assert pg.get_records("SELECT item_key, error, attempts FROM pipeline_dead_letter") == [("5503", "boom 4", 4)]
    assert card_store.dead_letters.count_open(pg, "r1") == 1


def test_run_record_counts(pg):
    card_store.runs.start_run(pg, run_id="r1", interval_end=T0)
    card_store.runs.finish_run(pg, run_id="r1", status="success", counts={"cards_written": 7, "orgs_fetched": 2})
    assert pg.get_first("SELECT status, cards_written, orgs_fetched, finished_at IS NOT NULL FROM pipeline_run") == (
        "success",
        7,
        2,
        True,
    )
    with pytest.raises(ValueError, match="bogus"):
        card_store.runs.finish_run(pg, run_id="r1", status="success", counts={"bogus": 1})


def test_a_new_run_marks_runs_running_past_the_timeout_abandoned(pg):
    card_store.runs.start_run(pg, run_id="killed", interval_end=T0)
    card_store.runs.start_run(pg, run_id="recent", interval_end=T0)
    pg.run("UPDATE pipeline_run SET started_at = now() - interval '3 hours' WHERE run_id = 'killed'")
    card_store.runs.start_run(pg, run_id="next", interval_end=T0, abandon_after=timedelta(hours=2))
    assert dict(pg.get_records("SELECT run_id, status FROM pipeline_run")) == {
        "killed": "abandoned",
        "recent": "running",
        "next": "running",
    }
    assert pg.get_first("SELECT finished_at IS NOT NULL FROM pipeline_run WHERE run_id = 'killed'")[0]


def test_outbox_events_reach_the_redis_stream_once(pg, redis_db):
    redis_db.delete(change_events.STREAM)
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    assert change_events.publish_pending(pg, "redis_default") == 3
    assert change_events.publish_pending(pg, "redis_default") == 0
    entries = redis_db.xrange(change_events.STREAM)
    assert sorted(e[1]["user_id"] for e in entries) == ["u1", "u2", "u3"]
    assert {e[1]["run_id"] for e in entries} == {"r1"}
    assert all(e[1]["event_id"] and e[1]["content_hash"] == "hash-a" for e in entries)


def test_render_keys_are_those_of_this_interval(pg):
    keyed = [
        card_store.results.CardRow(
            r.user_id, r.scenario_id, r.sales_org_cd, r.pages_json, r.cards_json, r.content_hash, f"key-{r.user_id}"
        )
        for r in rows("a")
    ]
    card_store.results.store_cards(pg, keyed, run_id="r1", interval_end=T0)
    keys = card_store.results.render_keys(
        pg, scenario_id="daily_brief", user_ids=["u1", "u2", "nobody"], interval_end=T0
    )
    assert keys == {"u1": "key-u1", "u2": "key-u2"}
    assert (
        card_store.results.render_keys(
            pg, scenario_id="daily_brief", user_ids=["u1"], interval_end=T0 + timedelta(hours=2)
        )
        == {}
    )
