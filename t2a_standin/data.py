"""Deterministic synthetic ERP data behind the stand-in T2A server.

The demo and the tests need data that looks like a real ERP's (Korean names, several
currencies and time zones, tens of thousands of rows) and that exercises every rule of the
daily_brief contract: null amounts, zero targets, exact ties, accounts over and under 100 %,
returns (negative sales), an organization without orders and one without any data.

Everything is a pure function of (seed, organization, period): the structure of an
organization (accounts, materials, product groups) depends on (seed, organization) only, so
subscribers seeded from it stay valid across periods, while the numbers change with the
month or date. Tables use the contract's plain header names; the wire quirks (BOM, no-break
spaces, empty forms) are the server's business, not the data's.

Amounts are generated as integer cents and percentages as integer tenths, so every value
has at most 2 (amounts) or 1 (percentages) decimals, and SALES_TOTAL's achievement is the
exact half-away-from-zero rounding of its own est / target × 100.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, replace

import numpy as np

SALES_ORG_LIST_HEADERS = ("SALES_ORG_CD", "SALES_ORG_NM", "CUR", "TZ_OFFSET")
SALES_ORG_HEADERS = (
    "GSCM Account",
    "SoldTo",
    "GSCM P/Group",
    "GSCM Product",
    "Material",
    "Target Plan",
    "Est. Sales",
    "Ach. vs Target Plan",
)
SALES_TOTAL_HEADERS = (
    "GSCM Account",
    "Target Plan",
    "Est. Sales",
    "Ach. vs Target Plan",
    "Billing",
    "Growth(%) Y-1",
)
ORDER_STATUS_HEADERS = (
    "GSCM Account",
    "Material",
    "Billed Order",
    "Open Order",
    "Blocked Order",
    "Upcoming Order",
    "Credit Block",
    "Delivery Block",
    "Unconfirmed Delay",
    "DO Delay",
    "Incomplete",
)

# (region for the org name, currency, TZ_OFFSET, amount scale in currency units, whole units only)
_REGIONS = (
    ("한국", "KRW", "+9", 40_000_000, True),
    ("미국", "USD", "-5", 30_000, False),
    ("독일", "EUR", "+1", 25_000, False),
    ("일본", "JPY", "+9", 3_500_000, True),
    ("인도", "INR", "+5.5", 2_000_000, False),
    ("영국", "GBP", "0", 22_000, False),
    ("브라질", "BRL", "-3", 150_000, False),
    ("호주", "AUD", "+10", 45_000, False),
)
_CITIES = (
    "서울",
    "부산",
    "대구",
    "인천",
    "광주",
    "대전",
    "울산",
    "수원",
    "창원",
    "청주",
    "전주",
    "포항",
    "제주",
    "천안",
    "김해",
    "원주",
)
_TRADES = ("상사", "무역", "전자", "유통", "물산", "테크", "마트", "종합상사")
_PRODUCT_GROUPS = (
    ("Refrigerator", "RF"),
    ("Washing Machine", "WM"),
    ("TV", "TV"),
    ("Monitor", "MN"),
    ("Air Conditioner", "AC"),
    ("Vacuum", "VC"),
    ("Dishwasher", "DW"),
    ("Oven", "OV"),
    ("Soundbar", "SB"),
    ("Laptop", "NB"),
    ("Tablet", "TB"),
    ("Projector", "PJ"),
)
_TIERS = ("Basic", "Plus", "Premium", "Pro")


@dataclass(frozen=True)
class DataConfig:
    """Shape of the synthetic ERP. The last `idle_orgs` organizations have no accounts at
    all; the `no_order_orgs` before them have accounts but never any ORDER_STATUS rows."""

    seed: int = 42
    orgs: int = 6
    accounts_per_org: int = 40
    product_groups_per_org: int = 6
    materials_per_account: int = 25
    materials_per_org: int = 120
    no_order_orgs: int = 1
    idle_orgs: int = 1

    def __post_init__(self) -> None:
        if self.orgs <= self.no_order_orgs + self.idle_orgs:
            raise ValueError(
                f"orgs={self.orgs} leaves no ordinary organization "
                f"(no_order_orgs={self.no_order_orgs}, idle_orgs={self.idle_orgs})"
            )
        if self.materials_per_org < self.materials_per_account + 2:
            raise ValueError(
                f"materials_per_org={self.materials_per_org} must exceed "
                f"materials_per_account={self.materials_per_account} by at least 2"
            )
        if self.accounts_per_org < 10 or self.product_groups_per_org < 1:
            raise ValueError("need at least 10 accounts and 1 product group per organization")

    @property
    def sales_org_rows_total(self) -> int:
        """SALES_ORG rows over all organizations, for any month (computed, not generated)."""
        return (self.orgs - self.idle_orgs) * self.accounts_per_org * self.materials_per_account


PRESETS: dict[str, DataConfig] = {
    "small": DataConfig(),
    "large": DataConfig(
        orgs=40,
        accounts_per_org=500,
        product_groups_per_org=10,
        materials_per_account=50,
        materials_per_org=400,
        no_order_orgs=1,
        idle_orgs=1,
    ),
}


def preset(name: str, seed: int | None = None) -> DataConfig:
    """The named preset, optionally with another seed."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    config = PRESETS[name]
    return config if seed is None else replace(config, seed=seed)


@dataclass(frozen=True)
class Table:
    """One query's answer: contract header names and rows of JSON-ready cells."""

    headers: tuple[str, ...]
    rows: list[list]


@dataclass(frozen=True)
class _Org:
    index: int
    code: str
    scale: float
    whole_units: bool
    accounts: tuple[str, ...]
    account_names: tuple[str, ...]
    product_groups: tuple[str, ...]
    materials: np.ndarray  # catalog material codes (str)
    material_group: np.ndarray  # catalog index -> product group name
    material_product: np.ndarray  # catalog index -> GSCM Product
    picks: np.ndarray  # accounts × (materials_per_account + 2) catalog indices;
    # the last two columns are ordered but never planned


@dataclass(frozen=True)
class _Sales:
    target: np.ndarray  # accounts × materials, int64 cents
    est: np.ndarray  # accounts × materials, int64 cents (negative = returns)
    target_null: np.ndarray
    est_null: np.ndarray
    ach_null: np.ndarray  # extra nulls T2A could not compute


_MONTH_DOTTED = re.compile(r"(\d{4})\.(0[1-9]|1[0-2])")
_MONTH_COMPACT = re.compile(r"(\d{4})(0[1-9]|1[0-2])")


def month_key(month: str, dotted: bool) -> int:
    """YYYYMM as an int from 'YYYY.MM' (dotted) or 'YYYYMM'; ValueError names the format."""
    match = (_MONTH_DOTTED if dotted else _MONTH_COMPACT).fullmatch(month)
    if not match:
        raise ValueError(f"month {month!r} is not {'YYYY.MM' if dotted else 'YYYYMM'}")
    return int(match[1]) * 100 + int(match[2])


def date_key(date: str) -> int:
    """YYYYMMDD as an int from 'YYYY-MM-DD'; ValueError names the format."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise ValueError(f"date {date!r} is not YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(date)
    except ValueError as exc:
        raise ValueError(f"date {date!r} is not a calendar date") from exc
    return day.year * 10000 + day.month * 100 + day.day


def _round_half_away(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator rounded half away from zero, in exact integer arithmetic
    (denominator > 0)."""
    magnitude = (2 * np.abs(numerator) + denominator) // (2 * denominator)
    return np.sign(numerator) * magnitude


def _with_nulls(values: np.ndarray, nulls: np.ndarray, divisor: int) -> list:
    cells = (values / divisor).tolist()
    return [None if null else cell for cell, null in zip(cells, nulls.tolist())]


class Dataset:
    """All the stand-in's data for one DataConfig, generated lazily and cached."""

    def __init__(self, config: DataConfig) -> None:
        self.config = config
        rng = np.random.default_rng([config.seed, 0])
        codes = np.sort(1000 + rng.choice(9000, size=config.orgs, replace=False))
        self._codes = [str(code) for code in codes]
        self._index = {code: i for i, code in enumerate(self._codes)}
        self._org = functools.lru_cache(maxsize=None)(self._build_org)
        self._sales = functools.lru_cache(maxsize=64)(self._build_sales)
        self.table = functools.lru_cache(maxsize=32)(self._build_table)

    # ----- public helpers -------------------------------------------------------------
    def orgs(self) -> list[dict[str, str]]:
        """Every organization as {code, name, currency, tz_offset}, in SALES_ORG_LIST order."""
        return [self._identity(index) for index in range(self.config.orgs)]

    def has_org(self, org_code: str) -> bool:
        return org_code in self._index

    def accounts(self, org_code: str) -> list[str]:
        """The organization's GSCM Account codes (empty for an idle organization)."""
        return list(self._org_by_code(org_code).accounts)

    def product_groups(self, org_code: str) -> list[str]:
        """The organization's GSCM P/Group names."""
        return list(self._org_by_code(org_code).product_groups)

    def sales_org_list(self) -> Table:
        return Table(
            SALES_ORG_LIST_HEADERS, [[o["code"], o["name"], o["currency"], o["tz_offset"]] for o in self.orgs()]
        )

    # `table(query, org_code, period_key)` is the cached entry point (see __init__).

    # ----- structure ------------------------------------------------------------------
    def _org_by_code(self, org_code: str) -> _Org:
        if org_code not in self._index:
            raise KeyError(f"unknown sales org {org_code!r}")
        return self._org(self._index[org_code])

    def _is_idle(self, index: int) -> bool:
        return index >= self.config.orgs - self.config.idle_orgs

    def _has_no_orders(self, index: int) -> bool:
        first = self.config.orgs - self.config.idle_orgs - self.config.no_order_orgs
        return first <= index and not self._is_idle(index)

    def _identity(self, index: int) -> dict[str, str]:
        region, currency, tz_offset, _, _ = _REGIONS[index % len(_REGIONS)]
        round_no = index // len(_REGIONS)
        name = f"{region} 판매법인" + (f" {round_no + 1}" if round_no else "")
        return {"code": self._codes[index], "name": name, "currency": currency, "tz_offset": tz_offset}

    def _build_org(self, index: int) -> _Org:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, 1, index])
        identity = self._identity(index)
        _, _, _, scale, whole = _REGIONS[index % len(_REGIONS)]

        n_accounts = 0 if self._is_idle(index) else cfg.accounts_per_org
        account_codes = 5_000_000 + rng.choice(1_000_000, size=n_accounts, replace=False)
        account_codes.sort()
        combos = len(_CITIES) * len(_TRADES)
        order = rng.permutation(max(n_accounts, combos))
        account_names = tuple(
            f"{_CITIES[k % combos // len(_TRADES)]}{_TRADES[k % len(_TRADES)]}"
            + (f" {k // combos + 1}호점" if k >= combos else "")
            for k in order[:n_accounts].tolist()
        )

        groups = tuple(
            _PRODUCT_GROUPS[g % len(_PRODUCT_GROUPS)][0]
            + (f" {g // len(_PRODUCT_GROUPS) + 1}" if g >= len(_PRODUCT_GROUPS) else "")
            for g in range(cfg.product_groups_per_org)
        )
        n_materials = cfg.materials_per_org
        group_of = rng.integers(0, len(groups), size=n_materials)
        group_of[: len(groups)] = np.arange(len(groups))  # every group has materials
        tier_of = rng.integers(0, len(_TIERS), size=n_materials)
        numbers = 10_000 + rng.choice(90_000, size=n_materials, replace=False)
        abbreviations = np.array([_PRODUCT_GROUPS[g % len(_PRODUCT_GROUPS)][1] for g in range(len(groups))])
        materials = np.char.add(np.char.add(abbreviations[group_of], "-"), numbers.astype(str))
        products = np.char.add(np.char.add(np.array(groups)[group_of], " "), np.array(_TIERS)[tier_of])

        width = cfg.materials_per_account + 2
        picks = np.argsort(rng.random((n_accounts, n_materials)), axis=1)[:, :width]
        planned = picks[:, : cfg.materials_per_account]
        # Each account's planned materials in material-code order, for readable output.
        planned = np.take_along_axis(planned, np.argsort(materials[planned], axis=1), axis=1)
        picks = np.concatenate([planned, picks[:, cfg.materials_per_account :]], axis=1)
        return _Org(
            index,
            identity["code"],
            float(scale),
            whole,
            tuple(str(a) for a in account_codes.tolist()),
            account_names,
            groups,
            materials,
            np.array(groups)[group_of],
            products,
            picks,
        )

    # ----- numbers ----------------------------------------------------------------------
    def _build_sales(self, index: int, month: int) -> _Sales:
        """SALES_ORG numbers for one org and month; SALES_TOTAL is derived from them."""
        org = self._org(index)
        rng = np.random.default_rng([self.config.seed, 2, index, month])
        n_accounts, n_materials = org.picks.shape[0], self.config.materials_per_account
        shape = (n_accounts, n_materials)
        account_size = rng.lognormal(0.0, 0.8, size=(n_accounts, 1))
        material_size = rng.lognormal(0.0, 0.6, size=shape)
        unit = 100 if org.whole_units else 1
        target = np.round(org.scale * account_size * material_size * 100 / unit).astype(np.int64) * unit
        target[rng.random(shape) < 0.05] = 0  # new products: no plan
        # Accounts well over and under 100 %, materials scattered around their account.
        factor = rng.uniform(0.45, 1.3, size=(n_accounts, 1)) * rng.uniform(0.6, 1.4, size=shape)
        est = np.round(target * factor / unit).astype(np.int64) * unit
        unplanned = target == 0
        est[unplanned] = (
            np.round(org.scale * rng.uniform(0.05, 0.5, size=int(unplanned.sum())) * 100 / unit).astype(np.int64) * unit
        )
        returns = rng.random(shape) < 0.02
        est[returns] = -(np.abs(est[returns]) // (5 * unit)) * unit

        # Exact ties inside an account: every 7th material repeats its neighbour's numbers.
        tie_cols = np.arange(3, n_materials, 7)
        target[:, tie_cols], est[:, tie_cols] = target[:, tie_cols - 1], est[:, tie_cols - 1]
        if n_accounts:
            # Account-level ties: xx8 doubles xx7 (same ach, bigger target), xx9 copies xx8.
            doubled = np.arange(8, n_accounts, 10)
            target[doubled], est[doubled] = target[doubled - 1] * 2, est[doubled - 1] * 2
            copied = np.arange(9, n_accounts, 10)
            target[copied], est[copied] = target[copied - 1], est[copied - 1]
            target[3] = 0  # an account with no plan at all

        target_null = rng.random(shape) < 0.015
        est_null = rng.random(shape) < 0.015
        ach_null = rng.random(shape) < 0.01
        for mask in (target_null, est_null, ach_null):  # keep the tied accounts tied
            mask[:, tie_cols] = False
            mask[np.arange(7, n_accounts, 10)] = mask[np.arange(8, n_accounts, 10)] = False
            mask[np.arange(9, n_accounts, 10)] = False
        return _Sales(target, est, target_null, est_null, ach_null)

    def _build_table(self, query: str, org_code: str, period: int) -> Table:
        """The table for one query, org and period key (YYYYMM, or YYYYMMDD for ORDER_STATUS)."""
        org = self._org_by_code(org_code)
        builders = {"SALES_ORG": self._sales_org, "SALES_TOTAL": self._sales_total, "ORDER_STATUS": self._order_status}
        return builders[query](org, period)

    def _sales_org(self, org: _Org, month: int) -> Table:
        sales = self._sales(org.index, month)
        planned = org.picks[:, : self.config.materials_per_account]
        _n_accounts, n_materials = planned.shape
        computable = ~(sales.target_null | sales.est_null | sales.ach_null) & (sales.target != 0)
        ach = _round_half_away(sales.est * 1000, np.where(sales.target == 0, 1, sales.target))
        columns = [
            np.repeat(org.accounts, n_materials).tolist(),
            np.repeat(org.account_names, n_materials).tolist(),
            org.material_group[planned].ravel().tolist(),
            org.material_product[planned].ravel().tolist(),
            org.materials[planned].ravel().tolist(),
            _with_nulls(sales.target.ravel(), sales.target_null.ravel(), 100),
            _with_nulls(sales.est.ravel(), sales.est_null.ravel(), 100),
            _with_nulls(ach.ravel(), ~computable.ravel(), 10),
        ]
        return Table(SALES_ORG_HEADERS, [list(row) for row in zip(*columns)])

    def _sales_total(self, org: _Org, month: int) -> Table:
        sales = self._sales(org.index, month)
        target = np.where(sales.target_null, 0, sales.target).sum(axis=1)
        est = np.where(sales.est_null, 0, sales.est).sum(axis=1)
        rng = np.random.default_rng([self.config.seed, 3, org.index, month])
        n = len(org.accounts)
        unit = 100 if org.whole_units else 1
        billing = np.round(np.maximum(est, 0) * rng.uniform(0.5, 1.0, size=n) / unit).astype(np.int64) * unit
        growth = rng.integers(-300, 600, size=n)
        target_null = rng.random(n) < 0.03
        ach_null = rng.random(n) < 0.02
        tied = np.zeros(n, dtype=bool)
        tied[np.arange(7, n, 10)] = tied[np.arange(8, n, 10)] = tied[np.arange(9, n, 10)] = True
        target_null &= ~tied
        ach_null &= ~tied
        ach = _round_half_away(est * 1000, np.where(target == 0, 1, target))
        columns = [
            list(org.accounts),
            _with_nulls(target, target_null, 100),
            _with_nulls(est, np.zeros(n, dtype=bool), 100),
            _with_nulls(ach, target_null | ach_null | (target == 0), 10),
            _with_nulls(billing, rng.random(n) < 0.05, 100),
            _with_nulls(growth, rng.random(n) < 0.10, 10),
        ]
        return Table(SALES_TOTAL_HEADERS, [list(row) for row in zip(*columns)])

    def _order_status(self, org: _Org, date: int) -> Table:
        if self._has_no_orders(org.index) or not org.accounts:
            return Table(ORDER_STATUS_HEADERS, [])
        rng = np.random.default_rng([self.config.seed, 4, org.index, date])
        planned = self.config.materials_per_account
        chance = np.where(np.arange(org.picks.shape[1]) < planned, 0.6, 0.5)
        ordered = rng.random(org.picks.shape) < chance
        # Rows sorted by account, then material code.
        picks = org.picks
        order = np.argsort(org.materials[picks], axis=1)
        picks, ordered = np.take_along_axis(picks, order, 1), np.take_along_axis(ordered, order, 1)
        accounts = np.broadcast_to(np.array(org.accounts)[:, None], picks.shape)[ordered]
        materials = org.materials[picks[ordered]]
        n = len(materials)
        unit = 100 if org.whole_units else 1

        def amounts(share: float) -> np.ndarray:
            raw = org.scale * share * rng.lognormal(0.0, 0.7, size=n) * 100 / unit
            return np.round(raw).astype(np.int64) * unit

        counts = [rng.poisson(lam, size=n) for lam in (0.15, 0.10, 0.20, 0.15, 0.10)]
        blocked = np.where((counts[0] + counts[1]) > 0, amounts(0.2), 0)
        no_nulls = np.zeros(n, dtype=bool)
        columns = [
            accounts.tolist(),
            materials.tolist(),
            _with_nulls(amounts(0.5), no_nulls, 100),
            _with_nulls(np.where(rng.random(n) < 0.2, 0, amounts(0.3)), rng.random(n) < 0.02, 100),
            _with_nulls(blocked, no_nulls, 100),
            _with_nulls(amounts(0.25), rng.random(n) < 0.02, 100),
            *(c.tolist() for c in counts),
        ]
        return Table(ORDER_STATUS_HEADERS, [list(row) for row in zip(*columns)])
