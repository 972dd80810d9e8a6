"""Card preview: an Airflow 3 plugin served by the api-server at ``/card-preview/``.

- ``/card-preview/`` — a page listing subscribers; it shows each page of a user's stored cards
  rendered by Microsoft's ``adaptivecards`` JavaScript renderer (bundled in
  ``card_preview/static/``, so it works offline), in either locale, with the renderer's
  parse and validation warnings. Linked from the Airflow UI's navigation ("Card preview").
- ``/card-preview/api/...`` — the same data as JSON: subscribers, a user's cards, the latest run,
  and the bot's answer to a click on a card (``POST /api/users/<user_id>/action``): clicking an
  ``Action.Execute`` in a previewed card replaces it in place with that answer, as Teams does.

Only authenticated Airflow users who may read the ``adaptive_card_pipeline`` DAG get through:
the Airflow UI's session cookie or an ``Authorization: Bearer`` JWT (``POST /auth/token``),
checked by Airflow's own ``get_user`` and the configured auth manager — the very check
Airflow's ``GET /api/v2/dags/adaptive_card_pipeline`` makes, team included. Everyone else gets
401/403. Nothing is served without that check: FastAPI's own ``/docs``, ``/redoc`` and
``/openapi.json`` (plain routes, outside the app's dependencies) are switched off. The cards
are the stored ``cards`` jsonb, exactly what the Teams bot reads.

Airflow loads every ``.py`` file of the plugins folder as a top-level module, so the plugin is
this one file; ``card_preview/`` holds only static files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel

from include import card_actions, card_store
from include.config import DAG_ID, SUPPORTED_LOCALES, settings
from include.ops import card_reads

URL_PREFIX = "/card-preview"
STATIC_DIR = Path(__file__).resolve().parent / "card_preview" / "static"
STATIC_FILES = {"adaptivecards.min.js": "text/javascript", "preview.js": "text/javascript", "preview.css": "text/css"}


# An authenticated user (get_user: 401/403 otherwise) whom the auth manager allows to read the
# pipeline's DAG (403 otherwise): Airflow's own dependency, which also looks up the DAG's team.
require_pipeline_reader = requires_access_dag(method="GET", param_dag_id=DAG_ID)

app = FastAPI(
    title="Adaptive Card preview",
    dependencies=[Depends(require_pipeline_reader)],
    # FastAPI adds these as plain routes that skip the dependencies above: none at all.
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@app.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])


@app.get("/api/subscribers")
def subscribers(q: str = "", limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """Subscribers whose user_id or display name contains ``q``."""
    return card_reads.subscribers(card_store.hook(), q, limit)


@app.get("/api/users/{user_id}/cards")
def user_cards(user_id: str, locale: str | None = None) -> dict[str, Any]:
    """A user's stored cards; with ``locale`` other than the stored one, re-rendered in it."""
    if locale is not None and locale not in SUPPORTED_LOCALES:
        raise HTTPException(status_code=422, detail=f"locale must be one of {list(SUPPORTED_LOCALES)}, got {locale!r}")
    try:
        view = card_reads.user_cards(card_store.hook(), user_id)
    except card_reads.NotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    stored_locale = view["subscriber"]["locale"] if view["subscriber"] else None
    shown = locale or stored_locale or SUPPORTED_LOCALES[0]
    for result in view["results"]:
        try:
            result["cards"] = card_reads.cards_in_locale(
                user_id, result, shown, stored_locale, erp_base_url=settings().erp_base_url
            )
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        result["rendered_now"] = shown != stored_locale
    return card_reads.jsonable({**view, "locale": shown, "stored_locale": stored_locale})


class CardAction(BaseModel):
    """What Teams sends the bot for a click on an ``Action.Execute``: its verb and data."""

    verb: Any = None
    data: Any = None


@app.post("/api/users/{user_id}/action")
def card_action(user_id: str, action: CardAction, locale: str | None = None) -> dict[str, Any]:
    """The Teams bot's answer to ``user_id`` clicking ``action`` (include.card_actions).

    ``response`` is the invoke-response body ``invoke_response`` returns (the card to show in
    place of the clicked one, or a message); ``page_id`` is the stored page it shows (None:
    the overview with the "no longer in your brief" note, or a message). With ``locale`` other
    than the subscriber's, the same page is rendered now in that locale (``rendered_now``),
    as the preview's locale switch does for the stored cards.
    """
    if locale is not None and locale not in SUPPORTED_LOCALES:
        raise HTTPException(status_code=422, detail=f"locale must be one of {list(SUPPORTED_LOCALES)}, got {locale!r}")
    pg = card_store.hook()
    response = card_actions.invoke_response(pg, user_id=user_id, verb=action.verb, data=action.data)
    answer: dict[str, Any] = {"response": response, "page_id": None, "locale": None, "rendered_now": False}
    if response["type"] != card_actions.CARD_CONTENT_TYPE:
        return answer
    scenario_id = action.data["scenario_id"]  # invoke_response answered with a card: data was checked
    try:
        view = card_reads.user_cards(pg, user_id)
    except card_reads.NotFound as exc:  # deleted between the two reads
        raise HTTPException(status_code=404, detail=str(exc)) from None
    result = next((r for r in view["results"] if r["scenario_id"] == scenario_id), None)
    if result is None:
        raise HTTPException(status_code=404, detail=f"user {user_id!r} has no stored {scenario_id} cards")
    # Which stored page the bot answered with: the one whose card it is (none: the overview with a note).
    page_id = next((p for p, card in result["cards"].items() if card == response["value"]), None)
    stored_locale = view["subscriber"]["locale"] if view["subscriber"] else None
    shown = locale or stored_locale or SUPPORTED_LOCALES[0]
    answer.update(page_id=page_id, locale=shown)
    if shown != stored_locale:
        try:
            cards = card_reads.cards_in_locale(
                user_id, result, shown, stored_locale, erp_base_url=settings().erp_base_url
            )
        except ValueError as exc:
            raise HTTPException(status_code=409, detail=str(exc)) from None
        card = (
            cards[page_id]
            if page_id is not None
            else card_actions.with_note(cards[card_actions.OVERVIEW], card_actions.note_text(scenario_id, shown))
        )
        answer.update(response={**response, "value": card}, rendered_now=True)
    return answer


@app.get("/api/runs/latest")
def latest_run() -> dict[str, Any]:
    """The newest pipeline_run row with its counts (404 before the first run)."""
    runs = card_store.runs.recent_runs(card_store.hook(), 1)
    if not runs:
        raise HTTPException(status_code=404, detail="no pipeline run recorded yet")
    return card_reads.jsonable(runs[0])


class CardPreviewPlugin(AirflowPlugin):
    name = "card_preview"
    # AirflowPlugin reads these class attributes.
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Adaptive Card preview"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {
            "name": "Card preview",
            "href": "card-preview/",
            "url_route": "card-preview",
            "destination": "nav",
            "category": "browse",
        }
    ]
