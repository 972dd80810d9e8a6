"""Shared by the scenario tests: a small valid scenario file (BASE) and writing one to disk."""

from __future__ import annotations

import textwrap
from pathlib import Path

BASE = """\
steps:
  - id: rows
    action: scope
    source: SALES_ORG
    columns: {account: GSCM Account, group: GSCM P/Group, target: Target Plan, est_sales: Est. Sales}
  - id: per_account
    action: group
    frame: rows
    by: [account]
    sum: [target, est_sales]
  - id: biggest
    action: rank
    frame: per_account
    order_by: [target desc, account asc]
    limit: 3
  - id: totals
    action: total
    frame: rows
    sum: [target]
pages:
  - id: accounts
    fields:
      org: {context: sales_org_cd}
      total_target: {frame: totals, column: target}
      accounts:
        list: biggest
        fields: {account: account, target: target, est_sales: est_sales}
"""


def write(tmp_path: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
