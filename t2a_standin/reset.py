"""Reset the local T2A stand-in world: re-seed ``card_subscriber``, clear the stand-in's faults
and request stats, and (asked first, or ``--yes``) empty the card store's result tables.

    . scripts/env.sh && python -m t2a_standin.reset --subscribers 300 [--results --yes]

For local and test environments only, it refuses, before it changes anything:

- unless the card store it would touch (connection ``card_store``) is the stand-in's local
  database: host 127.0.0.1 or localhost and database ``adaptive_card_db`` (the local default
  of ``scripts/env.sh``), or a test's ``acp_test_*`` / ``acp_bench*`` database;
- unless T2A_API_URL answers the stand-in's admin API, so it never seeds subscribers next to
  a real T2A.
"""

from __future__ import annotations

import argparse
import os
import sys

import requests

from include import card_store
from t2a_standin import seed
from t2a_standin.data import PRESETS, Dataset, preset


class ResetError(Exception):
    """A reset that cannot be done; printed without a traceback, exit status 1."""


RESULT_TABLES = ("user_scenario_result", "pipeline_run", "pipeline_dead_letter", "card_change_outbox")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
LOCAL_DATABASE = "adaptive_card_db"  # DB_NAME's default in scripts/env.sh
TEST_DATABASE_PREFIXES = ("acp_test_", "acp_bench")  # tests/conftest.py's and bench/'s databases


def local_card_store_problem(host: str | None, database: str | None) -> str | None:
    """Why a card store at ``host`` / ``database`` is not the stand-in's local one (None: it is)."""
    problems = []
    if (host or "").lower() not in LOCAL_HOSTS:
        problems.append(f"host {host!r} is not {' or '.join(LOCAL_HOSTS[:2])}")
    if not (database == LOCAL_DATABASE or (database or "").startswith(TEST_DATABASE_PREFIXES)):
        problems.append(
            f"database {database!r} is not {LOCAL_DATABASE!r} (nor a test's {'*, '.join(TEST_DATABASE_PREFIXES)}*)"
        )
    return "; ".join(problems) or None


def check_local_card_store(pg) -> str:
    """The card store's "database on host:port" if it is the stand-in's local one; else ResetError."""
    conn = pg.get_connection(pg.get_conn_id())
    database = getattr(pg, "database", None) or conn.schema
    where = f"database {database!r} on {conn.host}:{conn.port or 5432}"
    problem = local_card_store_problem(conn.host, database)
    if problem:
        raise ResetError(
            f"connection {pg.get_conn_id()} points at {where}: {problem}. The reset only touches the"
            " stand-in's local card store; refusing to reset it"
        )
    return where


def standin_admin(method: str, path: str) -> dict:
    """One call to the T2A stand-in's admin API; a real T2A (no such API) is a clear error."""
    base, token = os.environ.get("T2A_API_URL", "http://127.0.0.1:8765"), os.environ.get("T2A_TOKEN")
    if not token:
        raise ResetError("T2A_TOKEN is not set (the stand-in's token; `. scripts/env.sh` sets it locally)")
    try:
        resp = requests.request(
            method, f"{base.rstrip('/')}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except requests.RequestException as exc:
        raise ResetError(f"T2A stand-in at {base} unreachable: {exc}") from None
    if resp.status_code == 404:
        raise ResetError(f"{base} has no {path}: it is not the T2A stand-in; refusing to reset it")
    if resp.status_code != 200:
        raise ResetError(f"T2A stand-in {method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
    return resp.json()


def confirm(question: str, assume_yes: bool) -> None:
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise ResetError(f"{question} — needs confirmation; pass --yes when not at a terminal")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise ResetError("cancelled")


def reset(args: argparse.Namespace) -> int:
    pg = card_store.hook()
    where = check_local_card_store(pg)  # before anything is asked or changed
    if args.results:
        confirm(f"delete every row of {', '.join(RESULT_TABLES)} in the card store ({where})", args.yes)
    standin_admin("GET", "/_admin/stats")  # refuses before anything changes if this is a real T2A
    count = seed.seed(pg, Dataset(preset(args.preset, args.data_seed)), args.subscribers)
    standin_admin("DELETE", "/_admin/faults")
    standin_admin("DELETE", "/_admin/stats")
    if args.results:
        with card_store.transaction(pg) as cur:
            cur.execute(f"TRUNCATE {', '.join(RESULT_TABLES)} RESTART IDENTITY")
    print(
        f"card store {where}: seeded {count} subscribers; stand-in faults and stats cleared"
        + (f"; emptied {', '.join(RESULT_TABLES)}" if args.results else "")
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m t2a_standin.reset", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small", help="the stand-in's data preset")
    parser.add_argument("--data-seed", type=int, default=42, help="the stand-in server's --seed")
    parser.add_argument("--results", action="store_true", help=f"also empty {', '.join(RESULT_TABLES)} (asks first)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    try:
        return reset(args)
    except ResetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
