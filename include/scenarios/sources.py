"""The T2A query results a scenario may read, their columns and who may see which rows.

Column names and kinds follow docs/contracts/t2a-api.md; every frame the engine
receives also carries `SALES_ORG_CD` first. The entitlement of a source is fixed here, not
in a scenario file, so no scenario can forget it (docs/contracts/daily-brief.md: "A subscriber sees
nothing outside S, A and P").
"""

from __future__ import annotations

from dataclasses import dataclass

from include.scenarios.model import AMOUNT, COUNT, RATE, TEXT

ORG = "SALES_ORG_CD"
ACCOUNT = "GSCM Account"
PRODUCT_GROUP = "GSCM P/Group"
MATERIAL = "Material"

# How a source's rows are narrowed to an audience (S, A, P) beyond S and A:
BY_ACCOUNT = "account"  # no product group in the rows: S and A only
BY_PRODUCT_GROUP = "product_group"  # the row's GSCM P/Group must be in P (unless P is NULL)
BY_MATERIAL_OF_PRODUCT_GROUP = (
    "material"  # (account, material) must be in the audience's SALES_ORG rows (unless P is NULL)
)


@dataclass(frozen=True)
class Source:
    name: str
    columns: dict[str, str]  # contract header -> kind
    entitlement: str


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "SALES_TOTAL",
            {
                ACCOUNT: TEXT,
                "Target Plan": AMOUNT,
                "Est. Sales": AMOUNT,
                "Ach. vs Target Plan": RATE,
                "Billing": AMOUNT,
                "Growth(%) Y-1": RATE,
            },
            BY_ACCOUNT,
        ),
        Source(
            "SALES_ORG",
            {
                ACCOUNT: TEXT,
                "SoldTo": TEXT,
                PRODUCT_GROUP: TEXT,
                "GSCM Product": TEXT,
                MATERIAL: TEXT,
                "Target Plan": AMOUNT,
                "Est. Sales": AMOUNT,
                "Ach. vs Target Plan": RATE,
            },
            BY_PRODUCT_GROUP,
        ),
        Source(
            "ORDER_STATUS",
            {
                ACCOUNT: TEXT,
                MATERIAL: TEXT,
                "Billed Order": AMOUNT,
                "Open Order": AMOUNT,
                "Blocked Order": AMOUNT,
                "Upcoming Order": AMOUNT,
                "Credit Block": COUNT,
                "Delivery Block": COUNT,
                "Unconfirmed Delay": COUNT,
                "DO Delay": COUNT,
                "Incomplete": COUNT,
            },
            BY_MATERIAL_OF_PRODUCT_GROUP,
        ),
    )
}


def sources_needed(read: list[str]) -> tuple[str, ...]:
    """The sources a scenario reading `read` needs: ORDER_STATUS is narrowed by SALES_ORG rows."""
    needed = list(dict.fromkeys(read))
    if any(SOURCES[name].entitlement == BY_MATERIAL_OF_PRODUCT_GROUP for name in needed) and "SALES_ORG" not in needed:
        needed.append("SALES_ORG")
    return tuple(needed)
