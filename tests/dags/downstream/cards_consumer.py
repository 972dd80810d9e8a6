"""A DAG that follows the cards, for the tests only (never deployed): scheduled on the card
store asset, it runs after each pipeline run that recorded an event there and returns what it
was triggered with — each event's source run and extra, the pipeline run's counts.

Downstream teams write theirs the same way: ``schedule=[CARD_STORE_ASSET]`` and the events in
``triggering_asset_events``."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task

from include.config import CARD_STORE_ASSET

DAG_ID = "cards_consumer"


@dag(
    dag_id=DAG_ID,
    schedule=[CARD_STORE_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,  # events only queue runs of an unpaused DAG
    tags=["test"],
)
def cards_consumer():
    @task
    def read_card_counts() -> list[dict]:
        events = get_current_context()["triggering_asset_events"][CARD_STORE_ASSET]
        return [{"source_dag_id": e.source_dag_id, "source_run_id": e.source_run_id, "extra": e.extra} for e in events]

    read_card_counts()


cards_consumer()
