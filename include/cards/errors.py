"""The one error a card can raise to callers, and the problem type raised inside a card."""

from __future__ import annotations


class CardError(ValueError):
    """A card could not be built or is not a valid card; the message says which and why."""


class Problem(Exception):
    """What went wrong inside one card; render_page_card adds scenario, page and locale."""
