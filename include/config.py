"""What the pipeline is called, the locales it serves, and its settings.

Settings are read from the environment when asked (never at import). Names follow the
predecessor where it had one (CRON_SPEC, MAX_WORKERS_SALES, MAX_WORKERS_ADAPTIVE) so
operators keep their deployment variables.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

DAG_ID = "adaptive_card_pipeline"
# Subscribers may ask for these; every card template folder has a labels file for each.
SUPPORTED_LOCALES: tuple[str, ...] = ("en-US", "ko-KR")
# The Airflow pool every T2A org fetch takes a slot of: MAX_WORKERS_SALES slots cap the fetches
# in flight across all runs (schedule, backfills, replays, smoke runs), not just within one.
# Whatever migrates a metadata database creates it (`scripts/setup.sh`, compose's airflow-init,
# the bench and test stacks): a task whose pool is missing is never scheduled.
T2A_POOL = "t2a_fetch"

# The card store as an Airflow Asset: `finalize` records an event on it after every run that
# ends success or partial, its counts in the event's extra; a DAG scheduled on it follows the
# cards. Name and URI are its identity, the same in every deployment and every DAG that
# imports it. Not postgres://: Airflow's postgres scheme wants host:port/database/schema/table
# (port normalized to 5432, a missing part is an import error), and the host and database are
# the card_store connection's, per deployment, which a constant cannot know and a DAG file
# must not look up while parsing. A scheme starting "x-" is private: Airflow keeps it as is.
CARD_STORE_ASSET_NAME = "adaptive_card_store"
CARD_STORE_ASSET_URI = "x-card-store://card_store/public/user_scenario_result"


def __getattr__(name: str):
    """``CARD_STORE_ASSET``, built when first asked for: importing Airflow costs seconds, and
    most readers of this module (the card renderer, the predecessor benchmark) never need it."""
    if name == "CARD_STORE_ASSET":
        from airflow.sdk import Asset

        asset = globals()[name] = Asset(name=CARD_STORE_ASSET_NAME, uri=CARD_STORE_ASSET_URI)
        return asset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"environment variable {name}={value} must be at least {minimum}")
    return value


def _float(name: str, default: float, *, positive: bool = False) -> float:
    """A finite number, at least 0 (above 0 when ``positive``)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "above 0" if positive else "at least 0"
        raise ValueError(f"environment variable {name}={raw!r} must be a finite number {bound}")
    return value


@dataclass(frozen=True)
class Settings:
    cron_spec: str
    max_workers_sales: int
    max_workers_adaptive: int
    batch_size: int
    staging_url: str
    staging_conn_id: str
    erp_base_url: str
    t2a_conn_id: str
    card_store_conn_id: str
    redis_conn_id: str
    t2a_max_attempts: int
    t2a_backoff_base: float
    t2a_backoff_max: float
    t2a_timeout: float
    t2a_max_response_bytes: int
    fallback_max_age_hours: float
    staging_retention_hours: float
    outbox_retention_hours: float


def settings() -> Settings:
    default_staging = (Path(tempfile.gettempdir()) / "adaptive_card_pipeline").as_uri()
    return Settings(
        cron_spec=os.environ.get("CRON_SPEC") or "0 */2 * * *",
        max_workers_sales=_int("MAX_WORKERS_SALES", 3),
        max_workers_adaptive=_int("MAX_WORKERS_ADAPTIVE", 3),
        batch_size=_int("SUBSCRIBER_BATCH_SIZE", 500),
        staging_url=os.environ.get("STAGING_URL") or default_staging,
        # the connection of an object-store STAGING_URL that names none (s3://conn@bucket/… does)
        staging_conn_id=os.environ.get("STAGING_CONN_ID") or "aws_default",
        erp_base_url=os.environ.get("ERP_BASE_URL") or "https://erp.example.com",
        t2a_conn_id=os.environ.get("T2A_CONN_ID") or "t2a_api",
        card_store_conn_id=os.environ.get("CARD_STORE_CONN_ID") or "card_store",
        redis_conn_id=os.environ.get("REDIS_CONN_ID") or "redis_default",
        t2a_max_attempts=_int("T2A_MAX_ATTEMPTS", 4),
        t2a_backoff_base=_float("T2A_BACKOFF_BASE", 1.0),
        t2a_backoff_max=_float("T2A_BACKOFF_MAX", 30.0),
        t2a_timeout=_float("T2A_TIMEOUT", 120.0, positive=True),
        t2a_max_response_bytes=_int("T2A_MAX_RESPONSE_BYTES", 64 * 1024 * 1024),
        fallback_max_age_hours=_float("STALE_FALLBACK_MAX_AGE_HOURS", 6.0),
        staging_retention_hours=_float("STAGING_RETENTION_HOURS", 48.0),
        # published change events older than this are deleted from the outbox (0: at once)
        outbox_retention_hours=_float("OUTBOX_RETENTION_HOURS", 168.0),
    )
