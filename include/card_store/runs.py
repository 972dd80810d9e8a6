"""``pipeline_run``: one row per DAG run, how it ended and what it counted."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.card_store.connection import transaction

log = logging.getLogger(__name__)


def start_run(pg: PostgresHook, *, run_id: str, interval_end: datetime, abandon_after: timedelta | None = None) -> None:
    """Record a run as running. With ``abandon_after`` (the DAG's run timeout), other runs still
    'running' that started longer ago than that are marked 'abandoned': Airflow has given up on
    them, and a killed process (e.g. an interrupted `airflow dags test`) never records its end."""
    with transaction(pg) as cur:
        cur.execute(
            "INSERT INTO pipeline_run (run_id, data_interval_end, status) VALUES (%s, %s, 'running')"
            " ON CONFLICT (run_id) DO UPDATE SET status = 'running', finished_at = NULL,"
            " data_interval_end = EXCLUDED.data_interval_end",
            (run_id, interval_end),
        )
        if abandon_after is not None:
            cur.execute(
                "UPDATE pipeline_run SET status = 'abandoned', finished_at = now() WHERE status = 'running'"
                " AND run_id <> %s AND started_at < now() - %s RETURNING run_id",
                (run_id, abandon_after),
            )
            abandoned = [row[0] for row in cur.fetchall()]
            if abandoned:
                log.warning(
                    "marked %d run(s) still 'running' after %s as abandoned: %s",
                    len(abandoned),
                    abandon_after,
                    abandoned,
                )


RUN_COUNTERS = (
    "orgs_fetched",
    "orgs_failed",
    "orgs_fallback",
    "subscribers_served",
    "cards_written",
    "cards_unchanged",
    "dead_letters",
)


def finish_run(pg: PostgresHook, *, run_id: str, status: str, counts: dict[str, int]) -> None:
    unknown = set(counts) - set(RUN_COUNTERS)
    if unknown:
        raise ValueError(f"unknown pipeline_run counters: {sorted(unknown)}")
    assignments = "".join(f", {name} = %({name})s" for name in counts)
    with transaction(pg) as cur:
        cur.execute(
            f"UPDATE pipeline_run SET status = %(status)s, finished_at = now(){assignments} WHERE run_id = %(run_id)s",
            {"status": status, "run_id": run_id, **counts},
        )


RUN_COLUMNS = ("run_id", "status", "data_interval_end", "started_at", "finished_at", *RUN_COUNTERS)


def _select(pg: PostgresHook, where_sql: str, params: tuple) -> list[dict]:
    with transaction(pg) as cur:
        cur.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM pipeline_run {where_sql}", params)
        return [dict(zip(RUN_COLUMNS, row)) for row in cur.fetchall()]


def latest_run(pg: PostgresHook, interval_end: datetime) -> dict | None:
    """The run of this data interval that started last (a rerun or a second `dags test` of
    the same date makes several), or None."""
    found = _select(pg, "WHERE data_interval_end = %s ORDER BY started_at DESC LIMIT 1", (interval_end,))
    return found[0] if found else None


def recent_runs(pg: PostgresHook, limit: int) -> list[dict]:
    """The newest runs with their counts, newest first."""
    return _select(pg, "ORDER BY started_at DESC LIMIT %s", (limit,))
