"""Publishes queued card-change events from the outbox to the Redis stream.

Events are written by ``card_store.store_cards`` in the same transaction as the cards; this
module only forwards them. Delivery is at-least-once: a crash between XADD and marking the
row published re-sends it next time, so consumers dedupe on ``event_id``. If Redis is down
the events simply wait for the next run.

Published events are kept ``OUTBOX_RETENTION_HOURS`` (a week by default), then deleted by
``prune_published`` at the end of every ``publish_pending``, so the outbox holds what is
waiting plus a week of history. Unpublished events are never pruned. While a published event
is kept, a rerun of its run that writes the same card again (``force_rewrite``) adds no new
event (its ``event_id`` already exists); after pruning it would be announced once more, with
the same ``event_id``, which consumers dedupe anyway.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.redis.hooks.redis import RedisHook
from redis.exceptions import RedisError

from include.card_store import transaction
from include.config import settings

log = logging.getLogger(__name__)

STREAM = "adaptive_card_updates"
STREAM_MAXLEN = 100_000
PAGE = 5_000
PRUNE_PAGE = 10_000


def publish_pending(pg: PostgresHook, redis_conn_id: str, *, retention: timedelta | None = None) -> int:
    """Send every unpublished event, oldest first, then prune the outbox (``prune_published``:
    published events older than ``retention``, default the OUTBOX_RETENTION_HOURS setting,
    also when Redis is down); returns how many were sent."""
    if retention is None:
        retention = timedelta(hours=settings().outbox_retention_hours)
    sent = _publish(pg, redis_conn_id)
    prune_published(pg, retention)
    return sent


def prune_published(pg: PostgresHook, older_than: timedelta) -> int:
    """Delete the events published more than ``older_than`` ago (never an unpublished one), a
    page per transaction so a large backlog never holds one long lock; returns how many."""
    if older_than < timedelta(0):
        raise ValueError(f"older_than must not be negative, got {older_than}")
    pruned = 0
    while True:
        with transaction(pg) as cur:
            cur.execute(
                "DELETE FROM card_change_outbox WHERE id IN (SELECT id FROM card_change_outbox"
                " WHERE published_at IS NOT NULL AND published_at < now() - %s LIMIT %s)",
                (older_than, PRUNE_PAGE),
            )
            deleted = cur.rowcount
        pruned += deleted
        if deleted < PRUNE_PAGE:
            break
    if pruned:
        log.info("pruned %d change events published more than %s ago from the outbox", pruned, older_than)
    return pruned


def _publish(pg: PostgresHook, redis_conn_id: str) -> int:
    try:
        redis = RedisHook(redis_conn_id=redis_conn_id).get_conn()
        redis.ping()
    except RedisError as exc:
        log.warning("Redis unavailable (%s): change events stay queued for the next run", exc)
        return 0
    sent = 0
    while True:
        with transaction(pg) as cur:
            cur.execute(
                "SELECT id, event_id, user_id, scenario_id, content_hash, run_id, change FROM card_change_outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (PAGE,),
            )
            rows = cur.fetchall()
            if not rows:
                break
            try:
                pipe = redis.pipeline(transaction=False)
                for _, event_id, user_id, scenario_id, content_hash, run_id, change in rows:
                    pipe.xadd(
                        STREAM,
                        {
                            "event_id": event_id,
                            "user_id": user_id,
                            "scenario_id": scenario_id,
                            "content_hash": content_hash,
                            "run_id": run_id,
                            "change": change,
                        },
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                pipe.execute()
            except RedisError as exc:
                log.warning("Redis failed after %d events (%s): the rest stay queued", sent, exc)
                break
            cur.execute(
                "UPDATE card_change_outbox SET published_at = now() WHERE id = ANY(%s)", ([row[0] for row in rows],)
            )
            sent += len(rows)
    log.info("published %d change events to %s", sent, STREAM)
    return sent
