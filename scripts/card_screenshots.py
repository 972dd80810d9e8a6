#!/usr/bin/env python
"""Screenshots of daily_brief cards as Teams shows them, for the README: docs/cards/*.png.

The cards are a seeded subscriber's (the T2A stand-in's data run through the scenario engine
and include.cards.render_cards, as the pipeline does), rendered by Microsoft's renderer in
headless Debian Chromium with the Teams-like host config (tests/include/cards/card_browser.py)
at 400 px. u00006 (en-US) and u00007 (ko-KR) have the same organization and accounts, so the
two locales show the same figures.

    .venv/bin/python scripts/card_screenshots.py [--out docs/cards] [--width 400]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.cards import render_cards  # noqa: E402
from tests.include.cards.card_browser import card_browser  # noqa: E402
from tests.include.cards.standin_pages import standin_pages  # noqa: E402

SUBSCRIBERS = {"en-US": "u00006", "ko-KR": "u00007"}
PAGES = ("overview", "accounts", "account_detail_1", "operations")
ERP = "https://erp.example.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "cards")
    parser.add_argument("--width", type=int, default=400)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    subscribers = {s.user_id: s for s in standin_pages()}
    with card_browser() as browser:
        for locale, user_id in SUBSCRIBERS.items():
            sub = subscribers[user_id]
            cards = render_cards("daily_brief", sub.pages, locale, erp_base_url=ERP, context=sub.context)
            for page_id in PAGES:
                path = args.out / f"{page_id}-{locale}.png"
                measured = browser.screenshot(cards[page_id], args.width, locale, path)
                print(
                    f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {user_id} {page_id} "
                    f"{args.width}x{measured.height} px, {len(measured.broken_tokens)} broken tokens, "
                    f"{len(measured.warnings)} renderer warnings"
                )


if __name__ == "__main__":
    main()
