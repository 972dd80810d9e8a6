"""Run a validated scenario for a batch of subscribers in one vectorised pass.

All audiences of the batch are computed together: each source is narrowed to every
audience's entitlement by one merge, and every step works on frames holding all audiences
(keyed by `_aud`), so the cost grows with rows, not with one pandas pass per subscriber.

Pages are computed per audience. The only per-user values — `{subscriber: …}` fields — are
filled when an audience's pages are handed out per user (`AudienceResult.pages_for`): the
pages without such fields (`shared_pages`) are the same objects for every user.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from include.scenarios.actions import REGISTRY
from include.scenarios.audiences import Audience, Entitlements, group_subscribers
from include.scenarios.model import AMOUNT, AUD, COUNT, RATE, TEXT, Scenario
from include.scenarios.numbers import ExactScale
from include.scenarios.pages import CONTEXT_KEYS, PageRenderer
from include.scenarios.sources import ACCOUNT, MATERIAL, ORG, PRODUCT_GROUP, SOURCES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudienceResult:
    """The pages of one audience: every listed user gets these pages, their own
    `{subscriber: …}` fields filled in (`pages_for`)."""

    user_ids: list[str]
    sales_org_cd: str
    page_ids: tuple[str, ...]  # every page of every user of the audience, in order
    shared_pages: dict[str, Any]  # the pages without per-user fields: the same for every user
    templates: dict[str, dict[str, Any]]  # the other pages, their per-user fields None
    personal_fields: dict[str, tuple[tuple[str, str], ...]]  # page id -> (field, subscriber key)
    subscriber_values: dict[str, dict[str, Any]]  # user id -> the subscriber fields the pages show

    def personal_pages(self, user_id: str) -> dict[str, Any]:
        """The pages with per-user fields, for one user of the audience."""
        values = self.subscriber_values[user_id]
        return {
            page_id: {**page, **{name: values[key] for name, key in self.personal_fields[page_id]}}
            for page_id, page in self.templates.items()
        }

    def pages_for(self, user_id: str) -> dict[str, Any]:
        """Every page of one user of the audience, in page order."""
        personal = self.personal_pages(user_id)
        return {
            page_id: personal[page_id] if page_id in personal else self.shared_pages[page_id]
            for page_id in self.page_ids
        }


def run_batch(
    scn: Scenario,
    subscribers: Sequence[Mapping[str, Any]],
    data: Mapping[str, pd.DataFrame],
    org_context: Mapping[str, Mapping[str, str]],
) -> list[AudienceResult]:
    """Pages of `scn` for every subscriber, one result per distinct (S, set(A), set(P) or None).

    Subscribers with the same inputs share one computation and one AudienceResult. A
    subscriber whose `scenarios` list does not include `scn.id` is not served. Raises
    ValueError naming the source/column or the org when `data` or `org_context` do not
    hold what the scenario needs.
    """
    started = time.perf_counter()
    audiences = group_subscribers(subscribers, scn.id)
    contexts = [_context(a, org_context) for a in audiences]
    values = _subscriber_values(scn, subscribers, {u for a in audiences for u in a.user_ids})
    headers = _headers_read(scn)
    _check_data(data, headers)
    scale = ExactScale.fit(
        [data[source][h] for source, hs in headers.items() for h in hs if SOURCES[source].columns[h] in (AMOUNT, RATE)],
        scn.literal_places,
    )
    batch = _Batch(audiences, data, headers, scale)
    for step in scn.steps:
        batch.frames[step.id] = REGISTRY[step.action].run(step.args, batch, step.output)
    renderer = PageRenderer(scn.pages, batch.frames, {s.id: s.output for s in scn.steps}, scale, contexts)
    personal = {page.id: page.personal for page in scn.pages if page.personal}
    results = []
    for i, audience in enumerate(audiences):
        pages = renderer.render(i)
        results.append(
            AudienceResult(
                user_ids=list(audience.user_ids),
                sales_org_cd=audience.sales_org_cd,
                page_ids=tuple(pages),
                shared_pages={page_id: page for page_id, page in pages.items() if page_id not in personal},
                templates={page_id: page for page_id, page in pages.items() if page_id in personal},
                personal_fields=personal,
                subscriber_values={user: values[user] for user in audience.user_ids},
            )
        )
    log.info(
        "scenario %s: %d subscribers in %d audiences, %s rows read, exact scale 1e-%d%s, %.2f s",
        scn.id,
        sum(len(a.user_ids) for a in audiences),
        len(audiences),
        {source: len(data[source]) for source in headers},
        scale.places,
        " (wide ints)" if scale.wide else "",
        time.perf_counter() - started,
    )
    return results


def _context(audience: Audience, org_context: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    org = audience.sales_org_cd
    given = org_context.get(org)
    missing = [k for k in CONTEXT_KEYS if k != "sales_org_cd" and (given is None or k not in given)]
    if missing:
        raise ValueError(
            f"org_context for sales_org_cd {org!r} lacks {', '.join(missing)} (users {', '.join(audience.user_ids)})"
        )
    return {"sales_org_cd": org} | {k: given[k] for k in CONTEXT_KEYS if k != "sales_org_cd"}  # type: ignore[index]


def _subscriber_values(
    scn: Scenario, subscribers: Sequence[Mapping[str, Any]], served: set[str]
) -> dict[str, dict[str, Any]]:
    """Per served user, the subscriber fields the scenario's pages show (ValueError naming the
    user and the field when one is missing)."""
    values = {}
    for subscriber in subscribers:
        user = subscriber["user_id"]
        if user not in served:
            continue
        missing = [key for key in scn.subscriber_keys if not isinstance(subscriber.get(key), str)]
        if missing:
            raise ValueError(f"subscriber {user!r} has no text {', '.join(missing)}, which {scn.id} pages show")
        values[user] = {key: subscriber[key] for key in scn.subscriber_keys}
    return values


def _headers_read(scn: Scenario) -> dict[str, list[str]]:
    """Per source needed, the contract headers its scope steps read plus those entitlement needs."""
    wanted: dict[str, set[str]] = {source: {ACCOUNT, PRODUCT_GROUP, MATERIAL} for source in scn.sources}
    for step in scn.steps:
        if step.action == "scope":
            wanted[step.args["source"]].update(step.args["columns"].values())
    return {source: [h for h in SOURCES[source].columns if h in wanted[source]] for source in scn.sources}


def _check_data(data: Mapping[str, pd.DataFrame], headers: dict[str, list[str]]) -> None:
    """The columns the scenario reads exist with the contract's types (fetching guarantees it)."""
    for source, needed in headers.items():
        if source not in data:
            raise ValueError(f"data has no {source} frame (have: {', '.join(data)})")
        frame = data[source]
        for header in [ORG, *needed]:
            if header not in frame.columns:
                raise ValueError(f"{source} data has no column {header!r}")
            kind = TEXT if header == ORG else SOURCES[source].columns[header]
            dtype = frame[header].dtype
            ok = _dtype_fits(TEXT if header == ORG else SOURCES[source].columns[header], dtype)
            if not ok:
                kind = TEXT if header == ORG else SOURCES[source].columns[header]
                raise ValueError(f"{source} data column {header!r} is {dtype}; a {kind} column is expected")


def _dtype_fits(kind: str, dtype: Any) -> bool:
    if kind == COUNT:
        return pd.api.types.is_integer_dtype(dtype)
    if kind in (AMOUNT, RATE):
        return pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
    return pd.api.types.is_string_dtype(dtype)


class _Batch:
    """The RunContext the actions see: frames so far, the exact scale, entitled source rows."""

    def __init__(
        self,
        audiences: list[Audience],
        data: Mapping[str, pd.DataFrame],
        headers: dict[str, list[str]],
        scale: ExactScale,
    ):
        self.frames: dict[str, pd.DataFrame] = {}
        self.scale = scale
        self.audience_count = len(audiences)
        self._data, self._headers = data, headers
        self._entitlements = Entitlements(audiences, data.get("SALES_ORG"))
        self._read: dict[str, pd.DataFrame] = {}

    def accounts(self) -> pd.DataFrame:
        return self._entitlements.accounts()[[AUD, ACCOUNT]]

    def read(self, source: str) -> pd.DataFrame:
        if source not in self._read:
            raw = self._data[source]
            columns = {ORG: raw[ORG]}
            for header in self._headers[source]:
                kind = SOURCES[source].columns[header]
                columns[header] = self.scale.units(raw[header]) if kind in (AMOUNT, RATE) else raw[header]
            self._read[source] = self._entitlements.restrict(source, pd.DataFrame(columns))
        return self._read[source]
