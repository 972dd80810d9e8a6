"""Audiences — subscribers who see exactly the same data — and the rows each may see.

Subscribers with the same (sales_org_cd, set of accounts, set of product groups or NULL)
get the same pages, so the engine computes each such audience once. The authorization rule
of docs/contracts/daily-brief.md is applied here, for every source, by merging each audience's
entitlement with the data: nothing outside S, A and P reaches a step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from include.scenarios.model import AUD
from include.scenarios.sources import (
    ACCOUNT,
    BY_MATERIAL_OF_PRODUCT_GROUP,
    BY_PRODUCT_GROUP,
    MATERIAL,
    ORG,
    PRODUCT_GROUP,
    SOURCES,
)


@dataclass
class Audience:
    sales_org_cd: str
    accounts: frozenset[str]
    product_groups: frozenset[str] | None  # None: every product group
    user_ids: list[str] = field(default_factory=list)


def group_subscribers(subscribers: Iterable[Mapping[str, Any]], scenario_id: str) -> list[Audience]:
    """One audience per distinct (S, set(A), set(P) or None), in order of first appearance.

    Subscribers whose `scenarios` list does not name `scenario_id` are not served
    (docs/contracts/card-store.md: NULL means every scenario).
    """
    audiences: dict[tuple[Any, ...], Audience] = {}
    for subscriber in subscribers:
        wanted = subscriber.get("scenarios")
        if wanted is not None and scenario_id not in wanted:
            continue
        groups = subscriber.get("product_groups")
        key = (
            subscriber["sales_org_cd"],
            frozenset(subscriber["accounts"]),
            None if groups is None else frozenset(groups),
        )
        audiences.setdefault(key, Audience(*key)).user_ids.append(subscriber["user_id"])
    return list(audiences.values())


class Entitlements:
    """Narrows source rows to what each audience may see; rows gain the `_aud` column."""

    def __init__(self, audiences: list[Audience], sales_org: pd.DataFrame | None):
        """`sales_org` (the SALES_ORG frame) is needed only to narrow ORDER_STATUS."""
        self._accounts = pd.DataFrame(
            [(i, a.sales_org_cd, account) for i, a in enumerate(audiences) for account in sorted(a.accounts)],
            columns=[AUD, ORG, ACCOUNT],
        ).astype({AUD: "int64", ORG: "str", ACCOUNT: "str"})
        self._restricted = [i for i, a in enumerate(audiences) if a.product_groups is not None]
        self._groups = pd.DataFrame(
            [(i, group) for i in self._restricted for group in sorted(audiences[i].product_groups or ())],
            columns=[AUD, PRODUCT_GROUP],
        ).astype({AUD: "int64", PRODUCT_GROUP: "str"})
        self._sales_org = sales_org
        self._materials: pd.DataFrame | None = None

    def accounts(self) -> pd.DataFrame:
        """Every audience's accounts: `_aud`, `SALES_ORG_CD`, `GSCM Account`, ascending per audience."""
        return self._accounts

    def restrict(self, source: str, rows: pd.DataFrame) -> pd.DataFrame:
        """`rows` (a source's frame, SALES_ORG_CD first) narrowed to each audience's (S, A, P)."""
        seen = self._accounts.merge(rows, on=[ORG, ACCOUNT], how="inner", sort=False)
        rule = SOURCES[source].entitlement
        if rule == BY_PRODUCT_GROUP:
            return self._only_allowed(seen, self._groups, [AUD, PRODUCT_GROUP])
        if rule == BY_MATERIAL_OF_PRODUCT_GROUP:
            return self._only_allowed(seen, self._allowed_materials(), [AUD, ACCOUNT, MATERIAL])
        return seen

    def _allowed_materials(self) -> pd.DataFrame:
        """(audience, account, material) of SALES_ORG rows within P, for audiences with P set."""
        if self._materials is None:
            assert self._sales_org is not None, "ORDER_STATUS is narrowed by SALES_ORG rows"
            restricted = self._accounts[self._accounts[AUD].isin(self._restricted)]
            rows = restricted.merge(self._sales_org[[ORG, ACCOUNT, PRODUCT_GROUP, MATERIAL]], on=[ORG, ACCOUNT])
            rows = rows.merge(self._groups, on=[AUD, PRODUCT_GROUP])
            self._materials = rows[[AUD, ACCOUNT, MATERIAL]].drop_duplicates()
        return self._materials

    def _only_allowed(self, rows: pd.DataFrame, allowed: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        """Rows of unrestricted audiences, and rows of restricted ones whose keys are allowed."""
        keep = ~rows[AUD].isin(self._restricted).to_numpy()
        checked = rows.loc[~keep, keys].merge(allowed.assign(_allowed=True), on=keys, how="left", sort=False)
        keep[~keep] = checked["_allowed"].notna().to_numpy()
        return rows[keep].reset_index(drop=True)
