"""What the last run did, read back from the card store: for the demo, operators and tests."""

from __future__ import annotations

import argparse
import json

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include import card_store

_RUN_COLUMNS = ("run_id", "data_interval_end", "status", "started_at", "finished_at",
                *card_store.RUN_COUNTERS)


def _first(pg: PostgresHook, sql: str, params: tuple = ()) -> tuple | None:
    """One row through a plain cursor (the hook's helpers log every statement at INFO)."""
    with card_store.transaction(pg) as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def last_run(pg: PostgresHook) -> dict | None:
    row = _first(pg, f"SELECT {', '.join(_RUN_COLUMNS)} FROM pipeline_run ORDER BY started_at DESC LIMIT 1")
    return dict(zip(_RUN_COLUMNS, row)) if row else None


def sample_card(pg: PostgresHook, page: str = "overview") -> tuple[str, str, dict] | None:
    """(user_id, locale, card) of one of the newest stored cards."""
    row = _first(pg, "SELECT r.user_id, s.locale, r.cards -> %s FROM user_scenario_result r"
                     " JOIN card_subscriber s USING (user_id) WHERE r.cards ? %s"
                     " ORDER BY r.data_interval_end DESC, r.user_id LIMIT 1", (page, page))
    return (row[0], row[1], row[2]) if row else None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m include.status", description=__doc__)
    parser.add_argument("--sample-card", action="store_true", help="also print one stored card")
    args = parser.parse_args()
    pg = card_store.hook()
    run = last_run(pg)
    if run is None:
        print("no pipeline run recorded yet")
        return
    print(f"run {run['run_id']} ({run['status']}), data as of {run['data_interval_end']:%Y-%m-%d %H:%M %Z}")
    print(f"  sales orgs fetched {run['orgs_fetched']}, failed {run['orgs_failed']};"
          f" subscribers served {run['subscribers_served']};"
          f" cards written {run['cards_written']}, unchanged {run['cards_unchanged']};"
          f" dead letters {run['dead_letters']}")
    if args.sample_card:
        sample = sample_card(pg)
        if sample:
            user_id, locale, card = sample
            print(f"sample card: user {user_id}, page overview, locale {locale}")
            print(json.dumps(card, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
