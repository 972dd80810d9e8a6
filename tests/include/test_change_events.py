"""The outbox → Redis stream publisher against a real PostgreSQL and a real Redis: each event
sent once, oldest first, with the fields consumers dedupe on; nothing lost while Redis is
down or refuses the writes; published events pruned after the retention, never an
unpublished one."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest

from include import card_store, change_events
from tests.include.card_store.card_rows import T0, rows

EVENT_FIELDS = {"event_id", "user_id", "scenario_id", "content_hash", "run_id", "change"}


@pytest.fixture
def stream(redis_db):
    """The test Redis database with the change stream emptied."""
    redis_db.delete(change_events.STREAM)
    yield redis_db
    redis_db.delete(change_events.STREAM)


def queued(pg) -> int:
    return pg.get_first("SELECT count(*) FROM card_change_outbox WHERE published_at IS NULL")[0]


def outbox(pg) -> list[tuple[str, str, bool]]:
    """(user_id, run_id, published) of every outbox row, in id order."""
    return [
        tuple(row)
        for row in pg.get_records(
            "SELECT user_id, run_id, published_at IS NOT NULL FROM card_change_outbox ORDER BY id"
        )
    ]


def age(pg, run_id: str, hours: float, *, published: bool) -> None:
    """Make run_id's events ``hours`` old: created then, and published then (or not at all)."""
    pg.run(
        "UPDATE card_change_outbox SET created_at = now() - make_interval(secs => %(s)s),"
        " published_at = CASE WHEN %(published)s THEN now() - make_interval(secs => %(s)s) END"
        " WHERE run_id = %(run_id)s",
        parameters={"s": hours * 3600, "published": published, "run_id": run_id},
    )


def test_outbox_events_reach_the_redis_stream_once(pg, redis_db):
    redis_db.delete(change_events.STREAM)
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    assert change_events.publish_pending(pg, "redis_default") == 3
    assert change_events.publish_pending(pg, "redis_default") == 0
    entries = redis_db.xrange(change_events.STREAM)
    assert sorted(e[1]["user_id"] for e in entries) == ["u1", "u2", "u3"]
    assert {e[1]["run_id"] for e in entries} == {"r1"}
    assert all(e[1]["event_id"] and e[1]["content_hash"] == "hash-a" for e in entries)


def test_events_go_out_oldest_first_with_the_outbox_event_id(pg, stream):
    card_store.results.store_cards(pg, rows("a", users=("u2", "u1")), run_id="r1", interval_end=T0)
    card_store.results.store_cards(pg, rows("b", users=("u3",)), run_id="r2", interval_end=T0)
    outbox = pg.get_records(
        "SELECT event_id, user_id, scenario_id, content_hash, run_id FROM card_change_outbox ORDER BY id"
    )

    assert change_events.publish_pending(pg, "redis_default") == 3
    entries = [fields for _, fields in stream.xrange(change_events.STREAM)]
    assert all(set(fields) == EVENT_FIELDS for fields in entries)
    assert [tuple(f[k] for k in ("event_id", "user_id", "scenario_id", "content_hash", "run_id")) for f in entries] == [
        tuple(row) for row in outbox
    ]
    assert [f["run_id"] for f in entries] == ["r1", "r1", "r2"]
    assert queued(pg) == 0


def test_an_event_not_marked_published_is_sent_again_with_the_same_id(pg, stream):
    """At least once: a crash between XADD and marking the row re-sends it; consumers dedupe on event_id."""
    card_store.results.store_cards(pg, rows("a", users=("u1",)), run_id="r1", interval_end=T0)
    assert change_events.publish_pending(pg, "redis_default") == 1
    pg.run("UPDATE card_change_outbox SET published_at = NULL")  # as if the process died before marking it

    assert change_events.publish_pending(pg, "redis_default") == 1
    first, again = (fields for _, fields in stream.xrange(change_events.STREAM))
    assert first == again
    assert first["event_id"] == pg.get_first("SELECT event_id FROM card_change_outbox")[0]


def test_redis_down_leaves_events_queued(pg, stream, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DOWN", json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": port}))
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)

    assert change_events.publish_pending(pg, "redis_down") == 0
    assert queued(pg) == 3
    assert stream.xlen(change_events.STREAM) == 0

    # the next run, with Redis back, sends every one of them
    assert change_events.publish_pending(pg, "redis_default") == 3
    assert queued(pg) == 0
    assert sorted(f["user_id"] for _, f in stream.xrange(change_events.STREAM)) == ["u1", "u2", "u3"]


def test_redis_refusing_the_writes_leaves_events_queued(pg, stream):
    """Redis answers but every XADD fails (the stream key holds a string): nothing is marked sent."""
    card_store.results.store_cards(pg, rows("a"), run_id="r1", interval_end=T0)
    stream.set(change_events.STREAM, "not a stream")

    assert change_events.publish_pending(pg, "redis_default") == 0
    assert queued(pg) == 3

    stream.delete(change_events.STREAM)
    assert change_events.publish_pending(pg, "redis_default") == 3
    assert queued(pg) == 0
    assert stream.xlen(change_events.STREAM) == 3


def test_prune_deletes_only_published_events_older_than_the_retention(pg):
    card_store.results.store_cards(pg, rows("a", users=("u1",)), run_id="old_published", interval_end=T0)
    card_store.results.store_cards(pg, rows("b", users=("u2",)), run_id="recent_published", interval_end=T0)
    card_store.results.store_cards(pg, rows("c", users=("u3",)), run_id="old_unpublished", interval_end=T0)
    age(pg, "old_published", 200, published=True)
    age(pg, "recent_published", 100, published=True)
    age(pg, "old_unpublished", 400, published=False)  # Redis down for weeks: still waiting

    assert change_events.prune_published(pg, timedelta(hours=168)) == 1
    assert outbox(pg) == [("u2", "recent_published", True), ("u3", "old_unpublished", False)]
    assert change_events.prune_published(pg, timedelta(hours=168)) == 0
    assert change_events.prune_published(pg, timedelta(0)) == 1  # 0: every published event
    assert outbox(pg) == [("u3", "old_unpublished", False)]
    with pytest.raises(ValueError, match="must not be negative"):
        change_events.prune_published(pg, timedelta(hours=-1))


def test_prune_works_through_a_backlog_page_by_page(pg, monkeypatch):
    monkeypatch.setattr(change_events, "PRUNE_PAGE", 2)
    users = tuple(f"u{n}" for n in range(5))
    card_store.results.store_cards(pg, rows("a", users=users), run_id="old", interval_end=T0)
    age(pg, "old", 200, published=True)
    assert change_events.prune_published(pg, timedelta(hours=168)) == 5
    assert outbox(pg) == []


def test_publishing_prunes_after_the_retention_setting(pg, stream, monkeypatch):
    """finalize calls publish_pending only: it sends what waits, then prunes with OUTBOX_RETENTION_HOURS."""
    monkeypatch.setenv("OUTBOX_RETENTION_HOURS", "24")
    card_store.results.store_cards(pg, rows("a", users=("u1",)), run_id="r_old", interval_end=T0)
    card_store.results.store_cards(pg, rows("b", users=("u2",)), run_id="r_day", interval_end=T0)
    age(pg, "r_old", 25, published=True)
    age(pg, "r_day", 23, published=True)
    card_store.results.store_cards(pg, rows("c", users=("u3",)), run_id="r_new", interval_end=T0)

    assert change_events.publish_pending(pg, "redis_default") == 1
    assert outbox(pg) == [("u2", "r_day", True), ("u3", "r_new", True)]
    assert [f["run_id"] for _, f in stream.xrange(change_events.STREAM)] == ["r_new"]

    # an explicit retention wins over the setting
    assert change_events.publish_pending(pg, "redis_default", retention=timedelta(hours=1)) == 0
    assert outbox(pg) == [("u3", "r_new", True)]


def test_pruning_goes_on_while_redis_is_down(pg, stream, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_REDIS_DOWN", json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": port}))
    monkeypatch.delenv("OUTBOX_RETENTION_HOURS", raising=False)  # the default: a week
    card_store.results.store_cards(pg, rows("a", users=("u1",)), run_id="r_old", interval_end=T0)
    card_store.results.store_cards(pg, rows("b", users=("u2",)), run_id="r_new", interval_end=T0)
    age(pg, "r_old", 169, published=True)

    assert change_events.publish_pending(pg, "redis_down") == 0
    assert outbox(pg) == [("u2", "r_new", False)]
