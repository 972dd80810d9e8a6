"""Seeds ``card_subscriber`` with subscribers that fit the stand-in's synthetic ERP data.

Stands in for the card service, which owns that table in production. Deterministic for a
seed: the same command gives the same subscribers. The mix exercises the pipeline: both
locales, product-group restrictions, explicit and NULL scenario lists, and groups of
subscribers with identical inputs (whose results the scenario engine computes once).
"""

from __future__ import annotations

import argparse
import random

from airflow.providers.postgres.hooks.postgres import PostgresHook

from t2a_standin.data import PRESETS, Dataset, preset

_FAMILY = ["김", "이", "박", "최", "정", "강", "조", "윤"]
_GIVEN = ["민준", "서연", "도윤", "하은", "지호", "수아", "현우", "지민"]


def subscriber_rows(dataset: Dataset, count: int, seed: int = 7) -> list[tuple]:
    rng = random.Random(seed)
    orgs = [o["code"] for o in dataset.orgs()]
    rows: list[tuple] = []
    for n in range(1, count + 1):
        org = orgs[n % len(orgs)]
        if n % 7 == 0 and rows:
            twin = rows[-1]  # same org, accounts and groups as the previous subscriber
            accounts, groups, org = twin[4], twin[5], twin[3]
        else:
            # An organization without data still has subscribers: they get "no data" cards.
            pool = dataset.accounts(org) or [f"{org}{k:03d}" for k in range(3)]
            accounts = sorted(rng.sample(pool, k=min(len(pool), rng.randint(1, 6))))
            groups = None
            all_groups = dataset.product_groups(org)
            if all_groups and rng.random() < 0.3:
                groups = sorted(rng.sample(all_groups, k=rng.randint(1, max(1, len(all_groups) // 2))))
        locale = "ko-KR" if n % 2 else "en-US"
        name = f"{rng.choice(_FAMILY)}{rng.choice(_GIVEN)}" if locale == "ko-KR" else f"Manager {n}"
        scenarios = None if n % 3 else ["daily_brief"]
        rows.append((f"u{n:05d}", name, locale, org, accounts, groups, scenarios))
    return rows


def seed(pg: PostgresHook, dataset: Dataset, count: int, seed: int = 7) -> int:
    """Replace every subscriber with ``count`` generated ones; returns the count."""
    rows = subscriber_rows(dataset, count, seed)
    conn = pg.get_conn()
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("DELETE FROM card_subscriber")
            with cur.copy(
                "COPY card_subscriber (user_id, display_name, locale, sales_org_cd, accounts,"
                " product_groups, scenarios) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
    finally:
        conn.close()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m t2a_standin.seed", description=__doc__)
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--data-seed", type=int, default=42, help="the stand-in server's --seed")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--conn-id", default="card_store")
    args = parser.parse_args()
    dataset = Dataset(preset(args.preset, args.data_seed))
    count = seed(PostgresHook(postgres_conn_id=args.conn_id), dataset, args.subscribers, args.seed)
    print(f"seeded {count} subscribers over {len(dataset.orgs())} sales organizations")


if __name__ == "__main__":
    main()
