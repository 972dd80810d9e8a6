"""Cards are legible where they are read (docs/contracts/daily-brief.md, Part 2, "Cards:
legible where they are read"): rendered by Microsoft's renderer in headless Chromium with a
Teams-like host config (tests/include/cards/card_browser.py), at 400 px (Teams on the
desktop) and 360 px (a phone), in both locales.

Checked on every card:

- the renderer reports no parse or validation warning;
- no token is broken over two lines: a text block without whitespace no taller than 1.5 of
  its lines (the team's rule), and every word on one line — an amount, a percentage, a code,
  a word of a heading or label (Korean prose may break between syllables, as browsers lay out
  Korean; those breaks are counted, not failed);
- no text is cut off;
- at 400 px the card is at most 1,400 px tall;
- (card JSON) no table or row of columns has more than 3 numeric columns.

Inputs: worst-case pages built by hand (tests/include/cards/pages.py: the longest codes,
987,654,321,987.65 and its negative in USD, KRW and JPY, 5 of every list, 57 accounts of
which 50 are shown, every page kind, empty states, v1-shaped pages) and the pages of seeded
subscribers computed by the scenario engine from the T2A stand-in's data
(tests/include/cards/standin_pages.py). A summary line is printed and written to
artifacts/card-legibility.json.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from include.cards import render_cards
from include.config import SUPPORTED_LOCALES
from tests.include.cards.card_browser import card_browser
from tests.include.cards.pages import ERP, context, make_pages, worst_case_pages
from tests.include.cards.standin_pages import standin_pages
from tests.support import ARTIFACTS

WIDTHS = (400, 360)
MAX_HEIGHT = 1400  # at 400 px
MAX_NUMERIC_COLUMNS = 3
STANDIN_SUBSCRIBERS = 24
# A formatted number: an optional sign and currency symbol, digits with separators, an
# optional compact unit or percent sign (US$1.84M, -₩2.58억, 12.5%, 1,200).
NUMBER = re.compile(r"[-+]?[^\s\d]{0,4}\d[\d,.]*(?:[KMBT천만억조%])?")


@dataclass(frozen=True)
class Card:
    source: str  # "synthetic" or "standin"
    name: str  # what to look at when it fails: page, input, locale
    locale: str
    page_id: str
    card: dict
    codes: frozenset[str]  # the page's codes (strings), never counted as numbers


def _codes(page) -> set[str]:
    found: set[str] = set()
    if isinstance(page, dict):
        for value in page.values():
            found |= _codes(value)
    elif isinstance(page, list):
        for value in page:
            found |= _codes(value)
    elif isinstance(page, str):
        found.add(page)
    return found


def _cards(source: str, name: str, pages: dict, locale: str, ctx: dict) -> Iterator[Card]:
    cards = render_cards("daily_brief", pages, locale, erp_base_url=ERP, context=ctx)
    for page_id, card in cards.items():
        yield Card(source, f"{name}/{page_id} [{locale}]", locale, page_id, card, frozenset(_codes(pages[page_id])))


def synthetic_cards() -> list[Card]:
    cards = []
    for locale in SUPPORTED_LOCALES:
        for currency in ("USD", "KRW", "JPY"):
            cards += _cards(
                "synthetic", f"worst case {currency}", worst_case_pages(currency), locale, context(currency=currency)
            )
        # v1-shaped pages (no page links, no display_name): the cards still render.
        cards += _cards("synthetic", "v1 pages", make_pages(), locale, context())
        empty = worst_case_pages("USD", accounts_in_list=0)
        empty["overview"].update(top_accounts=[], top_product_groups=[], account_list=[])
        empty["overview"].update(dict.fromkeys(("total_target", "total_est_sales", "total_billing"), 0.0))
        empty["overview"].update(total_ach_rate=None, total_yoy=None)
        zero_orders = dict.fromkeys(("billed", "open", "blocked", "upcoming"), 0.0)
        zero_issues = dict.fromkeys(
            ("credit_block", "delivery_block", "unconfirmed_delay", "do_delay", "incomplete"), 0
        )
        empty["overview"].update(orders=zero_orders, issues=zero_issues)
        empty["operations"].update(materials=[], orders=zero_orders, issues=zero_issues, total_est_sales=0.0)
        empty["accounts"], empty["product_groups"] = [], []
        for page_id in list(empty):
            if page_id.startswith(("account_detail", "product_group_detail", "model_detail")):
                page = empty[page_id]
                page.update(orders=zero_orders, issues=zero_issues)
                if "models" in page:
                    page["models"] = []
                for field in ("top_product_group", "top_product"):
                    if field in page:
                        page[field] = None
                if "accounts" in page:
                    page["accounts"] = []
                if "issues_total" in page:
                    page["issues_total"] = 0
        cards += _cards("synthetic", "empty", empty, locale, context())
    return cards


def standin_cards() -> list[Card]:
    """Every page of the sampled subscribers, in both locales (the other locale is what the
    preview renders on the fly)."""
    cards = []
    for sub in standin_pages(STANDIN_SUBSCRIBERS):
        for locale in SUPPORTED_LOCALES:
            cards += _cards("standin", sub.user_id, sub.pages, locale, sub.context)
    return cards


def numeric_columns(card: dict, codes: frozenset[str]) -> list[tuple[str, int]]:
    """(where, numeric columns) of every Table and ColumnSet of the card whose cells hold
    formatted numbers; a ColumnSet repeated by $data counts once per row it renders."""
    found = []

    def cell_text(node) -> list[str]:
        texts = []
        if isinstance(node, dict):
            if node.get("type") == "TextBlock" and isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                texts += cell_text(value)
        elif isinstance(node, list):
            for value in node:
                texts += cell_text(value)
        return texts

    def is_numeric(texts: list[str]) -> bool:
        return any(t not in codes and NUMBER.fullmatch(t.strip()) for t in texts)

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Table":
                width = max((len(row.get("cells", [])) for row in node.get("rows", [])), default=0)
                numeric = sum(
                    is_numeric([t for row in node["rows"][1:] for t in cell_text(row["cells"][i : i + 1])])
                    for i in range(width)
                )
                found.append((where, numeric))
            if node.get("type") == "ColumnSet":
                found.append((where, sum(is_numeric(cell_text(column)) for column in node.get("columns", []))))
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(card, "")
    return found


@pytest.fixture(scope="module")
def all_cards() -> list[Card]:
    return synthetic_cards() + standin_cards()


@pytest.fixture(scope="module")
def browser():
    with card_browser() as browser:
        yield browser


def test_the_checks_see_what_they_look_for(browser):
    """Today's failures, made on purpose: each check must see its own."""

    def card(*body) -> dict:
        return {"type": "AdaptiveCard", "version": "1.5", "body": list(body)}

    narrow = {
        "type": "ColumnSet",
        "columns": [
            {"type": "Column", "items": [{"type": "TextBlock", "text": "Accounts below target", "wrap": True}]},
            {"type": "Column", "width": "40px", "items": [{"type": "TextBlock", "text": "US$75,724.88", "wrap": True}]},
            {"type": "Column", "width": "30px", "items": [{"type": "TextBlock", "text": "달성률 목표", "wrap": True}]},
        ],
    }
    broken = browser.measure(card(narrow), 360, "ko-KR")
    assert broken.broken_tokens == ["US$75,724.88", "달성률", "목표"] and broken.warnings == []
    assert [b["rule"] for b in broken.broken if b["text"] == "US$75,724.88"] == ["block", "word"]

    prose = {"type": "TextBlock", "text": "목표가 있는 거래처 중 목표에 미달한 거래처가 없습니다.", "wrap": True}
    korean = browser.measure(card(prose), 300, "ko-KR")  # breaks 거래/처가 at this width
    assert korean.broken_tokens == [] and [b["text"] for b in korean.prose_breaks] == ["거래처가"]  # counted
    heading = browser.measure(card({**prose, "weight": "Bolder"}), 300, "ko-KR")
    assert heading.broken_tokens == ["거래처가"]  # the same words in bold (a heading, a code): failed

    tall = browser.measure(card(*[{"type": "TextBlock", "text": f"line {i}"} for i in range(80)]), 400, "en-US")
    assert tall.height > MAX_HEIGHT
    cut = browser.measure(card({"type": "TextBlock", "text": "WF45B6300AP/US " * 12}), 360, "en-US")
    assert cut.clipped and cut.broken_tokens == []
    unknown = browser.measure(card({"type": "NoSuchElement"}, {"type": "TextBlock", "text": "x"}), 400, "en-US")
    assert any("NoSuchElement" in w for w in unknown.warnings)


def test_no_table_has_more_than_three_numeric_columns(all_cards):
    too_wide = [
        (c.name, where, n)
        for c in all_cards
        for where, n in numeric_columns(c.card, c.codes)
        if n > MAX_NUMERIC_COLUMNS
    ]
    assert too_wide == []
    # the check sees numbers at all: the worst-case overview has a row of 3 figures
    overview = next(c for c in all_cards if c.source == "synthetic" and c.page_id == "overview")
    assert max(n for _, n in numeric_columns(overview.card, overview.codes)) == 3


def test_cards_are_legible_at_400_and_360_px(all_cards, browser, capsys):
    problems: list[str] = []
    stats: dict = defaultdict(lambda: {"renders": 0, "broken": 0, "prose_breaks": 0, "tallest": {}})
    for card in all_cards:
        for width in WIDTHS:
            m = browser.measure(card.card, width, card.locale)
            s = stats[f"{card.locale} {width}px"]
            s["renders"] += 1
            s["broken"] += len(m.broken_tokens)
            s["prose_breaks"] += len(m.prose_breaks)
            if m.height > s["tallest"].get(card.source, (0, ""))[0]:
                s["tallest"][card.source] = (m.height, card.name)
            where = f"{card.name} at {width} px"
            if m.warnings:
                problems.append(f"{where}: renderer warnings {m.warnings}")
            if m.broken_tokens:
                problems.append(f"{where}: broken over lines {m.broken_tokens}")
            if m.clipped:
                problems.append(f"{where}: cut off {m.clipped}")
            if width == 400 and m.height > MAX_HEIGHT:
                problems.append(f"{where}: {m.height} px tall (at most {MAX_HEIGHT})")
    sources = {source: sum(c.source == source for c in all_cards) for source in ("synthetic", "standin")}
    summary = (
        f"card legibility: {len(all_cards)} cards ({sources['synthetic']} synthetic, {sources['standin']} of "
        f"{STANDIN_SUBSCRIBERS} stand-in subscribers), {sum(s['renders'] for s in stats.values())} renders, "
        f"{len(problems)} problems"
        + "".join(
            f" | {key}: {s['broken']} broken tokens, tallest {s['tallest']['synthetic'][0]} px "
            f"({s['tallest']['synthetic'][1]}), stand-in tallest {s['tallest']['standin'][0]} px "
            f"({s['tallest']['standin'][1]}), {s['prose_breaks']} Korean prose syllable breaks"
            for key, s in sorted(stats.items())
        )
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "card-legibility.json").write_text(
        json.dumps({"summary": summary, "stats": stats, "problems": problems}, ensure_ascii=False, indent=2)
    )
    with capsys.disabled():
        print(f"\n{summary}")
    assert problems == [], "\n".join(problems[:40])
