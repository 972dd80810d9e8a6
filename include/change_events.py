"""Publishes queued card-change events from the outbox to the Redis stream.

Events are written by ``card_store.store_cards`` in the same transaction as the cards; this
module only forwards them. Delivery is at-least-once: a crash between XADD and marking the
row published re-sends it next time, so consumers dedupe on ``event_id``. If Redis is down
the events simply wait for the next run.
"""

from __future__ import annotations

import logging

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.redis.hooks.redis import RedisHook
from redis.exceptions import RedisError

from include.card_store import transaction

log = logging.getLogger(__name__)

STREAM = "adaptive_card_updates"
STREAM_MAXLEN = 100_000
PAGE = 5_000


def publish_pending(pg: PostgresHook, redis_conn_id: str) -> int:
    """Send every unpublished event, oldest first; returns how many were sent."""
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
