"""``user_scenario_result``: each subscriber's stored pages and cards, one row per scenario.

Card writes are one transaction per batch (COPY into a temp table, then set-based
statements), so a crashed batch leaves nothing half-written and a rerun converges to the
same rows. Every real change queues its outbox event in the same transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.card_store.connection import transaction

log = logging.getLogger(__name__)


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
     ORDER BY user_id, scenario_id
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
        # Concurrent runs (a backfill beside the schedule) touch the same rows: every writer
        # locks them in one fixed order first, so two batches can never deadlock.
        cur.execute(
            "SELECT count(*) FROM (SELECT 1 FROM user_scenario_result r JOIN incoming i"
            " USING (user_id, scenario_id) ORDER BY r.user_id, r.scenario_id FOR UPDATE OF r) AS locked"
        )
        if not force:
            cur.execute(_CONFIRM_UNCHANGED, params)
        cur.execute(_UPSERT_CHANGED, params)
        written = cur.fetchone()[0]
        # Counted after the upsert: every incoming row now exists and is locked by us, so a row
        # another run inserted meanwhile with a newer interval is counted here, not as unchanged.
        cur.execute(
            "SELECT count(*) FROM incoming i JOIN user_scenario_result r"
            " USING (user_id, scenario_id) WHERE r.data_interval_end > %(interval_end)s",
            params,
        )
        kept_newer = cur.fetchone()[0]
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


# Cards of a (user, scenario) that no active subscription serves any more: the subscriber was
# made inactive, deleted, or no longer lists the scenario (NULL scenarios = every scenario).
# Deleted with a 'withdrawn' event in one statement. A subscriber whose org failed or is
# unknown to T2A is still active: an outage or a dead letter, not a withdrawal.
_WITHDRAW = """
WITH doomed AS (
    SELECT r.user_id, r.scenario_id FROM user_scenario_result r
     WHERE NOT EXISTS (SELECT 1 FROM card_subscriber s
                        WHERE s.user_id = r.user_id AND s.active
                          AND (s.scenarios IS NULL OR r.scenario_id = ANY(s.scenarios)))
     ORDER BY r.user_id, r.scenario_id
       FOR UPDATE OF r
), gone AS (
    DELETE FROM user_scenario_result r USING doomed d
     WHERE r.user_id = d.user_id AND r.scenario_id = d.scenario_id
    RETURNING r.user_id, r.scenario_id
), events AS (
    INSERT INTO card_change_outbox (event_id, user_id, scenario_id, content_hash, run_id, change)
    SELECT md5(concat_ws('|', %(run_id)s::text, user_id, scenario_id, 'withdrawn')),
           user_id, scenario_id, '', %(run_id)s::text, 'withdrawn'
      FROM gone
    ON CONFLICT (event_id) DO NOTHING
)
SELECT user_id, scenario_id FROM gone ORDER BY user_id, scenario_id
"""


def withdraw_unsubscribed(pg: PostgresHook, *, run_id: str) -> list[tuple[str, str]]:
    """Delete the cards no active subscription serves any more, each with a 'withdrawn'
    change event in the same transaction; returns the (user_id, scenario_id) withdrawn."""
    with transaction(pg) as cur:
        cur.execute(_WITHDRAW, {"run_id": run_id})
        gone = [tuple(row) for row in cur.fetchall()]
    if gone:
        log.info("run %s withdrew %d card rows of readers no longer subscribed", run_id, len(gone))
    return gone
