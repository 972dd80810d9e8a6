"""The card store in PostgreSQL (contracts/card-store.md): schema, cards, runs, dead letters.

All access goes through PostgresHook (connection ``card_store``). Card writes are one
transaction per batch — COPY into a temp table, then set-based statements — so a crashed
batch leaves nothing half-written and a rerun converges to the same rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.config import settings

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "include.migrations"
# Any constant works; it only has to be the same for every migrating process.
_MIGRATION_LOCK_KEY = 0x0ADA_CA2D


def hook(conn_id: str | None = None) -> PostgresHook:
    return PostgresHook(postgres_conn_id=conn_id or settings().card_store_conn_id)


@contextmanager
def transaction(pg: PostgresHook) -> Iterator:
    """One psycopg connection in one transaction: committed on success, rolled back on error."""
    conn = pg.get_conn()
    try:
        with conn.transaction(), conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


# --- schema -------------------------------------------------------------------------------


def _migration_files() -> list[tuple[str, str]]:
    files = resources.files(MIGRATIONS_PACKAGE)
    return sorted(
        (f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files.iterdir() if f.name.endswith(".sql")
    )


def migrate(pg: PostgresHook) -> list[str]:
    """Apply pending migrations; safe to run concurrently and on every DAG run."""
    with transaction(pg) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
        cur.execute(
            "CREATE TABLE IF NOT EXISTS card_store_migration ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM card_store_migration")
        done = {row[0] for row in cur.fetchall()}
        applied = []
        for version, sql in _migration_files():
            if version in done:
                continue
            cur.execute(sql)
            cur.execute("INSERT INTO card_store_migration (version) VALUES (%s)", (version,))
            applied.append(version)
    log.info("card-store migrations: %d applied %s, %d already present", len(applied), applied, len(done))
    return applied


# --- cards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardRow:
    user_id: str
    scenario_id: str
    sales_org_cd: str
    pages_json: str
    cards_json: str
    content_hash: str
    render_key: str | None = None  # see migrations/002_render_key.sql


@dataclass(frozen=True)
class StoreCounts:
    written: int
    unchanged: int
    kept_newer: int

    def as_dict(self) -> dict[str, int]:
        return {"written": self.written, "unchanged": self.unchanged, "kept_newer": self.kept_newer}


# Unchanged content from a later interval is confirmed (run_id, interval, updated_at move;
# created_at stays). A rerun of the same interval — the same run cleared, or another run such
# as a second `airflow dags test` of that date — writes nothing at all.
_CONFIRM_UNCHANGED = """
UPDATE user_scenario_result r
   SET run_id = %(run_id)s, data_interval_end = %(interval_end)s, updated_at = now(),
       render_key = i.render_key
  FROM incoming i
 WHERE r.user_id = i.user_id AND r.scenario_id = i.scenario_id
   AND r.content_hash = i.content_hash
   AND r.data_interval_end < %(interval_end)s
"""

# Interval-ordered upsert: an older interval never replaces newer cards, equal content is
# never rewritten, and every real change gets its outbox event in the same transaction.
_UPSERT_CHANGED = """
WITH written AS (
    INSERT INTO user_scenario_result AS r
           (user_id, scenario_id, sales_org_cd, pages, cards, content_hash, render_key, run_id,
            data_interval_end, created_at, updated_at)
    SELECT user_id, scenario_id, sales_org_cd, pages, cards, content_hash, render_key, %(run_id)s,
           %(interval_end)s, now(), now()
      FROM incoming
    ON CONFLICT (user_id, scenario_id) DO UPDATE
       SET sales_org_cd = EXCLUDED.sales_org_cd, pages = EXCLUDED.pages,
           cards = EXCLUDED.cards, content_hash = EXCLUDED.content_hash, render_key = EXCLUDED.render_key,
           run_id = EXCLUDED.run_id, data_interval_end = EXCLUDED.data_interval_end,
           created_at = now(), updated_at = now()
     WHERE r.data_interval_end <= EXCLUDED.data_interval_end
       AND (r.content_hash <> EXCLUDED.content_hash OR %(force)s)
    RETURNING user_id, scenario_id, content_hash
), events AS (
    INSERT INTO card_change_outbox (event_id, user_id, scenario_id, content_hash, run_id)
    SELECT md5(concat_ws('|', %(run_id)s, user_id, scenario_id, content_hash)),
           user_id, scenario_id, content_hash, %(run_id)s
      FROM written
    ON CONFLICT (event_id) DO NOTHING
)
SELECT count(*) FROM written
"""


def store_cards(
    pg: PostgresHook, rows: Iterable[CardRow], *, run_id: str, interval_end: datetime, force: bool = False
) -> StoreCounts:
    """Write one batch of cards atomically and queue change events for what changed.

    ``force`` rewrites (and announces) unchanged cards too — still never over newer ones.
    """
    started = time.monotonic()
    params = {"run_id": run_id, "interval_end": interval_end, "force": force}
    with transaction(pg) as cur:
        cur.execute(
            "CREATE TEMP TABLE incoming (user_id text, scenario_id text, sales_org_cd text,"
            " pages jsonb, cards jsonb, content_hash text, render_key text) ON COMMIT DROP"
        )
        total = 0
        with cur.copy("COPY incoming FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.user_id,
                        row.scenario_id,
                        row.sales_org_cd,
                        row.pages_json,
                        row.cards_json,
                        row.content_hash,
                        row.render_key,
                    )
                )
                total += 1
        cur.execute(
            "SELECT count(*) FROM incoming i JOIN user_scenario_result r"
            " USING (user_id, scenario_id) WHERE r.data_interval_end > %(interval_end)s",
            params,
        )
        kept_newer = cur.fetchone()[0]
        if not force:
            cur.execute(_CONFIRM_UNCHANGED, params)
        cur.execute(_UPSERT_CHANGED, params)
        written = cur.fetchone()[0]
    counts = StoreCounts(written=written, unchanged=total - written - kept_newer, kept_newer=kept_newer)
    log.info("stored %d cards in %.2fs: %s", total, time.monotonic() - started, counts.as_dict())
    return counts


def render_keys(pg: PostgresHook, *, scenario_id: str, user_ids: list[str], interval_end: datetime) -> dict[str, str]:
    """The stored render keys of these users' cards from this very interval (for rerun skips)."""
    with transaction(pg) as cur:
        cur.execute(
            "SELECT user_id, render_key FROM user_scenario_result WHERE scenario_id = %s"
            " AND user_id = ANY(%s) AND data_interval_end = %s AND render_key IS NOT NULL",
            (scenario_id, user_ids, interval_end),
        )
        return dict(cur.fetchall())


# --- runs and dead letters ----------------------------------------------------------------


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
    assignments = ", ".join(f"{name} = %({name})s" for name in counts)
    with transaction(pg) as cur:
        cur.execute(
            f"UPDATE pipeline_run SET status = %(status)s, finished_at = now(), {assignments}"
            " WHERE run_id = %(run_id)s",
            {"status": status, "run_id": run_id, **counts},
        )


def record_dead_letter(
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
            (run_id, stage, item_key, json.dumps(payload, sort_keys=True), error, attempts),
        )
    log.warning(
        "dead letter: run %s stage %s item %s after %d attempt(s): %s", run_id, stage, item_key, attempts, error
    )


def count_dead_letters(pg: PostgresHook, run_id: str) -> int:
    return pg.get_first(
        "SELECT count(*) FROM pipeline_dead_letter WHERE run_id = %s AND resolved_at IS NULL",
        parameters=(run_id,),
    )[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.card_store", description=__doc__)
    parser.add_argument("command", choices=["migrate"], help="apply pending schema migrations")
    parser.add_argument("--conn-id", help="Airflow connection id (default: card_store)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    migrate(hook(args.conn_id))


if __name__ == "__main__":
    main()
