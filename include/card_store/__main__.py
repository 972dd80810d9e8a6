"""``python -m include.card_store migrate``: apply the card store's pending migrations."""

from __future__ import annotations

import argparse
import logging

from include.card_store.connection import hook
from include.card_store.schema import migrate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.card_store", description=__doc__)
    parser.add_argument("command", choices=["migrate"], help="apply pending schema migrations")
    parser.add_argument("--conn-id", help="Airflow connection id (default: card_store)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    migrate(hook(args.conn_id))


if __name__ == "__main__":
    main()
