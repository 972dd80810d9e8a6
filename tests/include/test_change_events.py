"""The outbox → Redis stream publisher against a real PostgreSQL and a real Redis: each event
sent once, oldest first, with the fields consumers dedupe on; nothing lost while Redis is
down or refuses the writes."""

from __future__ import annotations

import json
import socket

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
