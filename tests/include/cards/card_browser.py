"""Cards rendered by Microsoft's renderer in headless Debian Chromium, the way Teams shows them.

The renderer is the bundled ``adaptivecards`` 3.0.6 of the card preview
(``plugins/card_preview/static/adaptivecards.min.js``); the host config is the Teams-like light
theme in ``include/cards/teams-hostconfig.json``; fonts fall back to Noto Sans CJK (Debian's
``fonts-noto-cjk``, installed by scripts/setup.sh). ``legibility.js`` beside this file
renders one card into a box of the given width and measures it: renderer warnings, height,
tokens broken over lines, text cut off.

Used by test_legibility.py and scripts/card_screenshots.py. Playwright drives
``/usr/bin/chromium`` and never downloads a browser.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import CHROMIUM, CHROMIUM_ARGS, ROOT

RENDERER_JS = ROOT / "plugins" / "card_preview" / "static" / "adaptivecards.min.js"
MEASURE_JS = Path(__file__).with_name("legibility.js")
HOST_CONFIG = ROOT / "include" / "cards" / "teams-hostconfig.json"
# The renderer brings no styles of its own for buttons; Teams draws them as outlined buttons.
PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; padding: 16px; background: #f5f5f5; }
#host { background: #fff; border-radius: 4px; }
.ac-pushButton { font: 600 14px 'Noto Sans', 'Noto Sans CJK KR', sans-serif; color: #242424; background: #fff;
  border: 1px solid #d1d1d1; border-radius: 4px; padding: 5px 12px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.ac-selectable { cursor: pointer; }
</style></head><body><div id="host"></div></body></html>"""


@dataclass
class Measure:
    """What one card looks like at one width."""

    warnings: list[str]
    height: int
    broken: list[dict] = field(default_factory=list)
    prose_breaks: list[dict] = field(default_factory=list)  # Korean prose broken between syllables
    clipped: list[str] = field(default_factory=list)

    @property
    def broken_tokens(self) -> list[str]:
        """Each broken token once (the block rule and the word rule may both see it)."""
        return sorted({b["text"] for b in self.broken})


class CardBrowser:
    """One Chromium page holding the renderer; ``measure`` and ``screenshot`` reuse it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        page.set_content(PAGE)
        page.add_script_tag(path=str(RENDERER_JS))
        page.add_script_tag(path=str(MEASURE_JS))
        page.evaluate("config => window.legibility.setHostConfig(config)", json.loads(HOST_CONFIG.read_text("utf-8")))

    def measure(self, card: dict, width: int, locale: str) -> Measure:
        raw = self.page.evaluate(
            "([card, width, lang]) => window.legibility.measure(card, width, lang)",
            [card, width, locale.split("-")[0]],
        )
        return Measure(raw["warnings"], raw["height"], raw["broken"], raw["proseBreaks"], raw["clipped"])

    def screenshot(self, card: dict, width: int, locale: str, path: Path) -> Measure:
        measured = self.measure(card, width, locale)
        self.page.locator("#host").screenshot(path=str(path))
        return measured


@contextmanager
def card_browser() -> Iterator[CardBrowser]:
    from playwright import sync_api  # pip playwright; its own browsers are never downloaded

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} missing: apt-get install -y chromium fonts-noto-cjk")
    # Measured widths are the fonts' widths: without Noto Sans CJK, Korean falls back to
    # whatever is there and the figures mean nothing.
    fonts = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, check=False).stdout
    if "Noto Sans CJK KR" not in fonts:
        raise RuntimeError("font Noto Sans CJK KR missing: apt-get install -y fonts-noto-cjk")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 800, "height": 1000}, device_scale_factor=1)
            yield CardBrowser(context.new_page())
        finally:
            browser.close()
