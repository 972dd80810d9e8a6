"""``pipeline_dead_letter``: the pipeline's writes of failed items (operators read and
replay them through ``include.ops.dead_letters``)."""

from __future__ import annotations

import json
import logging

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.card_store.connection import transaction

log = logging.getLogger(__name__)


def storable(value):
    """``value`` with every string made storable in PostgreSQL text and jsonb: a lone surrogate
    or a NUL (both can arrive from T2A) is written as its escape sequence, visibly."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def record(
    pg: PostgresHook, *, run_id: str, stage: str, item_key: str, payload: dict, error: str, attempts: int
) -> None:
    """Keep a failed item with what is needed to replay it; a rerun updates, never duplicates."""
    with transaction(pg) as cur:
        cur.execute(
            "INSERT INTO pipeline_dead_letter (run_id, stage, item_key, payload, error, attempts)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id, stage, item_key) WHERE resolved_at IS NULL"
            " DO UPDATE SET payload = EXCLUDED.payload, error = EXCLUDED.error,"
            " attempts = EXCLUDED.attempts",
            (
                storable(run_id),
                stage,
                storable(item_key),
                json.dumps(storable(payload), sort_keys=True),
                storable(error),
                attempts,
            ),
        )
    log.warning(
        "dead letter: run %s stage %s item %s after %d attempt(s): %s", run_id, stage, item_key, attempts, error
    )


def count_open(pg: PostgresHook, run_id: str) -> int:
    """Dead letters of this run not yet replayed or dismissed."""
    return pg.get_first(
        "SELECT count(*) FROM pipeline_dead_letter WHERE run_id = %s AND resolved_at IS NULL",
        parameters=(run_id,),
    )[0]
