"""Settings from the environment: the documented defaults, overrides read when asked (never at
import), and a bad value refused with a message naming the variable."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from include import config
from include.cards import TEMPLATES_ROOT
from include.config import DAG_ID, SUPPORTED_LOCALES, Settings, settings

VARIABLES = {
    "CRON_SPEC": "cron_spec",
    "MAX_WORKERS_SALES": "max_workers_sales",
    "MAX_WORKERS_ADAPTIVE": "max_workers_adaptive",
    "SUBSCRIBER_BATCH_SIZE": "batch_size",
    "STAGING_URL": "staging_url",
    "STAGING_CONN_ID": "staging_conn_id",
    "ERP_BASE_URL": "erp_base_url",
    "T2A_CONN_ID": "t2a_conn_id",
    "CARD_STORE_CONN_ID": "card_store_conn_id",
    "REDIS_CONN_ID": "redis_conn_id",
    "T2A_MAX_ATTEMPTS": "t2a_max_attempts",
    "T2A_BACKOFF_BASE": "t2a_backoff_base",
    "T2A_BACKOFF_MAX": "t2a_backoff_max",
    "T2A_TIMEOUT": "t2a_timeout",
    "T2A_MAX_RESPONSE_BYTES": "t2a_max_response_bytes",
    "STALE_FALLBACK_MAX_AGE_HOURS": "fallback_max_age_hours",
    "STAGING_RETENTION_HOURS": "staging_retention_hours",
    "OUTBOX_RETENTION_HOURS": "outbox_retention_hours",
}


@pytest.fixture
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_setting_has_one_variable():
    assert sorted(VARIABLES.values()) == sorted(Settings.__dataclass_fields__)


def test_defaults(clean_env):
    assert settings() == Settings(
        cron_spec="0 */2 * * *",
        max_workers_sales=3,
        max_workers_adaptive=3,
        batch_size=500,
        staging_url=(Path(tempfile.gettempdir()) / "adaptive_card_pipeline").as_uri(),
        staging_conn_id="aws_default",
        erp_base_url="https://erp.example.com",
        t2a_conn_id="t2a_api",
        card_store_conn_id="card_store",
        redis_conn_id="redis_default",
        t2a_max_attempts=4,
        t2a_backoff_base=1.0,
        t2a_backoff_max=30.0,
        t2a_timeout=120.0,
        t2a_max_response_bytes=64 * 1024 * 1024,
        fallback_max_age_hours=6.0,
        staging_retention_hours=48.0,
        outbox_retention_hours=168.0,
    )
    assert settings().staging_url.startswith("file:///")


def test_the_environment_overrides_each_default_when_asked(clean_env):
    values = {
        "CRON_SPEC": "*/15 * * * *",
        "MAX_WORKERS_SALES": "8",
        "MAX_WORKERS_ADAPTIVE": "2",
        "SUBSCRIBER_BATCH_SIZE": "1000",
        "STAGING_URL": "s3://bucket/acp",
        "STAGING_CONN_ID": "s3_staging",
        "ERP_BASE_URL": "https://erp.internal",
        "T2A_CONN_ID": "t2a_prod",
        "CARD_STORE_CONN_ID": "cards_prod",
        "REDIS_CONN_ID": "redis_prod",
        "T2A_MAX_ATTEMPTS": "1",
        "T2A_BACKOFF_BASE": "0.25",
        "T2A_BACKOFF_MAX": "5",
        "T2A_TIMEOUT": "2.5",
        "T2A_MAX_RESPONSE_BYTES": "1000",
        "STALE_FALLBACK_MAX_AGE_HOURS": "0",
        "STAGING_RETENTION_HOURS": "1.5",
        "OUTBOX_RETENTION_HOURS": "0",
    }
    before = settings()
    for name, value in values.items():
        clean_env.setenv(name, value)
    after = settings()

    assert after == Settings(
        cron_spec="*/15 * * * *",
        max_workers_sales=8,
        max_workers_adaptive=2,
        batch_size=1000,
        staging_url="s3://bucket/acp",
        staging_conn_id="s3_staging",
        erp_base_url="https://erp.internal",
        t2a_conn_id="t2a_prod",
        card_store_conn_id="cards_prod",
        redis_conn_id="redis_prod",
        t2a_max_attempts=1,
        t2a_backoff_base=0.25,
        t2a_backoff_max=5.0,
        t2a_timeout=2.5,
        t2a_max_response_bytes=1000,
        fallback_max_age_hours=0.0,
        staging_retention_hours=1.5,
        outbox_retention_hours=0.0,
    )
    assert before.batch_size == 500  # read when asked: the earlier object did not change
    assert isinstance(after.max_workers_sales, int) and isinstance(after.t2a_backoff_max, float)


def test_an_empty_variable_means_the_default(clean_env):
    defaults = settings()
    for name in VARIABLES:
        clean_env.setenv(name, "")
    assert settings() == defaults


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAX_WORKERS_SALES", "three", "environment variable MAX_WORKERS_SALES='three' is not a whole number"),
        ("MAX_WORKERS_ADAPTIVE", "2.5", "environment variable MAX_WORKERS_ADAPTIVE='2.5' is not a whole number"),
        ("SUBSCRIBER_BATCH_SIZE", "0", "environment variable SUBSCRIBER_BATCH_SIZE=0 must be at least 1"),
        ("T2A_MAX_ATTEMPTS", "-1", "environment variable T2A_MAX_ATTEMPTS=-1 must be at least 1"),
        ("T2A_TIMEOUT", "fast", "environment variable T2A_TIMEOUT='fast' is not a number"),
        ("STAGING_RETENTION_HOURS", "2 days", "environment variable STAGING_RETENTION_HOURS='2 days' is not a number"),
        ("T2A_TIMEOUT", "0", "environment variable T2A_TIMEOUT='0' must be a finite number above 0"),
        ("T2A_BACKOFF_BASE", "nan", "environment variable T2A_BACKOFF_BASE='nan' must be a finite number at least 0"),
        ("T2A_BACKOFF_MAX", "-1", "environment variable T2A_BACKOFF_MAX='-1' must be a finite number at least 0"),
        ("OUTBOX_RETENTION_HOURS", "a week", "environment variable OUTBOX_RETENTION_HOURS='a week' is not a number"),
        (
            "OUTBOX_RETENTION_HOURS",
            "-1",
            "environment variable OUTBOX_RETENTION_HOURS='-1' must be a finite number at least 0",
        ),
        (
            "STALE_FALLBACK_MAX_AGE_HOURS",
            "inf",
            "environment variable STALE_FALLBACK_MAX_AGE_HOURS='inf' must be a finite number at least 0",
        ),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(ValueError) as raised:
        settings()
    assert str(raised.value) == message


def test_every_card_template_folder_has_labels_for_every_supported_locale():
    assert DAG_ID == "adaptive_card_pipeline"
    assert SUPPORTED_LOCALES == ("en-US", "ko-KR")
    folders = [p for p in TEMPLATES_ROOT.iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        for locale in SUPPORTED_LOCALES:
            assert (folder / f"labels.{locale}.json").is_file(), f"{folder.name}: no labels for {locale}"


def test_settings_are_not_read_at_import():
    """No module-level Settings object: a process started before a variable changed sees the change."""
    assert not any(isinstance(value, Settings) for value in vars(config).values())
