"""The card-preview plugin in a real `airflow api-server` (plugins folder = plugins/), over real
HTTP, with real cards in a real card store, rendered by the bundled `adaptivecards` renderer in
a real headless Chromium (Debian's /usr/bin/chromium via playwright; never downloaded).

Cards come from data fetched from the T2A stand-in, pages computed by the contract's
independent reference (tests/daily_brief_reference.py) and cards rendered by include.cards —
what the pipeline stores. Navigation (a click on an ``Action.Execute`` answered by
include.card_actions, the card replaced in place) runs on a stored row whose cards carry the
v2 contract's links (built here: the v1 templates have none). Screenshots:
artifacts/preview-*.png.

Users: ``admin`` (ADMIN), ``viewer`` (VIEWER: may read every DAG) and ``nobody``, logged in
but with no role — the simple auth manager's only user it lets read no DAG at all (its roles
all include read access to every DAG; teams restrict by DAG bundle, which needs bundles and
teams in the metadata database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import requests

from include import card_store
from include.card_actions import invoke_response, note_text
from include.cards import TEMPLATES_ROOT, render_cards
from include.config import DAG_ID
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset
from tests.support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_until_healthy
from tests.support.daily_brief_reference import reference_pages
from tests.support.t2a_reader import t2a_inputs

ARTIFACTS = ROOT / "artifacts"
AS_OF = "2026-11-26T10:00:00+00:00"
SUBSCRIBERS = 10
BROKEN_USER = "u_broken"
ERP = "https://erp.example.com"
PASSWORD = "preview-test-password"
USERS = "admin:admin,viewer:viewer,nobody:"  # user:role; nobody has no role
NAV_USER = "u_nav"
NAV_LOCALE = "en-US"
NAV_ERP = f"{ERP}/brief/accounts/A100"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def _open_page(title: str, page_id: str, key: str | None = None) -> dict:
    """A link as the v2 contract puts it on cards (Navigation): Action.Execute open_page."""
    data = {"scenario_id": "daily_brief", "page_id": page_id} | ({"key": key} if key is not None else {})
    return {"type": "Action.Execute", "title": title, "verb": "open_page", "data": data}


def _entry(text: str, page_id: str, key: str | None) -> dict:
    """A list entry that opens its page (selectAction), as the v2 cards' entries do."""
    return {
        "type": "ColumnSet",
        "selectAction": _open_page(text, page_id, key),
        "columns": [{"type": "Column", "width": "stretch", "items": [{"type": "TextBlock", "text": text}]}],
    }


def _nav_card(title: str, body: list[dict], actions: list[dict]) -> dict:
    head = {"type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "wrap": True}
    return {"type": "AdaptiveCard", "version": "1.5", "lang": "en", "body": [head, *body], "actions": actions}


def navigation_row() -> tuple[dict, dict]:
    """(pages, cards) of a daily_brief row whose cards link their pages as v2 does: overview →
    account_detail_1 → model_detail_1, each detail page with its Back action (to ``accounts``
    and to ``linked_from[0]``), an ERP link, and one link to a page the brief no longer has."""
    material = "WF45B6300AP/US"  # codes may hold '/': they go in the key, never in a page id
    pages = {
        "overview": {"sales_org_cd": "5503", "top_accounts": [{"account": "A100", "page": "account_detail_1"}]},
        "accounts": {"accounts": [{"account": "A100", "page": "account_detail_1"}]},
        "account_detail_1": {"account": "A100", "models": [{"material": material, "page": "model_detail_1"}]},
        "model_detail_1": {"material": material, "linked_from": ["account_detail_1"]},
    }
    back = _open_page("Back", "overview")
    cards = {
        "overview": _nav_card(
            "Overview of u_nav",
            [
                {"type": "TextBlock", "text": "Top accounts", "weight": "Bolder"},
                _entry("A100", "account_detail_1", "A100"),
                _entry("A777 (yesterday's link)", "account_detail_2", "A777"),
            ],
            [
                _open_page("All accounts", "accounts"),
                {"type": "Action.OpenUrl", "title": "Open in ERP", "url": NAV_ERP},
            ],
        ),
        "accounts": _nav_card("All accounts", [_entry("A100", "account_detail_1", "A100")], [back]),
        "account_detail_1": _nav_card(
            "Account A100",
            [
                {"type": "TextBlock", "text": "Models to push", "weight": "Bolder"},
                _entry(material, "model_detail_1", material),
            ],
            [_open_page("Back", "accounts"), {"type": "Action.OpenUrl", "title": "Open in ERP", "url": NAV_ERP}],
        ),
        "model_detail_1": _nav_card(
            f"Model {material}",
            [{"type": "TextBlock", "text": "Orders across all your accounts", "wrap": True}],
            [_open_page("Back", "account_detail_1", "A100")],
        ),
    }
    return pages, cards


def _store_navigation_row(pg) -> None:
    pages, cards = navigation_row()
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts)"
        " VALUES (%s, 'Navigating Reader', %s, '5503', %s)",
        parameters=(NAV_USER, NAV_LOCALE, ["A100"]),
    )
    row = card_store.results.CardRow(NAV_USER, "daily_brief", "5503", json.dumps(pages), json.dumps(cards), "nav")
    card_store.results.store_cards(pg, [row], run_id="preview_test_run", interval_end=datetime.fromisoformat(AS_OF))


@pytest.fixture(scope="module")
def stored_cards(card_store_db, t2a_server):
    """SUBSCRIBERS seeded subscribers with their real cards, plus one with a card the renderer
    must complain about; returns {user_id: (locale, pages, cards)}."""
    pg = card_store.hook()
    pg.run("TRUNCATE card_subscriber, user_scenario_result, pipeline_run, card_change_outbox")
    seed.seed(pg, Dataset(DataConfig()), SUBSCRIBERS)
    data, contexts = t2a_inputs(AS_OF)
    rows, expected = [], {}
    for user_id, locale, org, accounts, groups in pg.get_records(
        "SELECT user_id, locale, sales_org_cd, accounts, product_groups FROM card_subscriber"
    ):
        pages = reference_pages(
            {"sales_org_cd": org, "accounts": accounts, "product_groups": groups}, data, contexts[org]
        )
        cards = render_cards(
            "daily_brief", pages, locale, erp_base_url=ERP, context={"sales_org_cd": org, **contexts[org]}
        )
        expected[user_id] = (locale, pages, cards)
        rows.append(
            card_store.results.CardRow(user_id, "daily_brief", org, json.dumps(pages), json.dumps(cards), user_id)
        )
    # A stored card with an element type Adaptive Cards does not know: the page must say so.
    some_user = next(iter(expected))
    locale, pages, cards = expected[some_user]
    broken = {**cards["overview"], "body": [{"type": "NoSuchElement"}, *cards["overview"]["body"]]}
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts)"
        " VALUES (%s, 'Broken Card', %s, %s, %s)",
        parameters=(BROKEN_USER, locale, rows[0].sales_org_cd, ["x"]),
    )
    rows.append(
        card_store.results.CardRow(
            BROKEN_USER,
            "daily_brief",
            rows[0].sales_org_cd,
            json.dumps(pages),
            json.dumps({"overview": broken}),
            "broken",
        )
    )
    card_store.results.store_cards(pg, rows, run_id="preview_test_run", interval_end=datetime.fromisoformat(AS_OF))
    _store_navigation_row(pg)
    card_store.runs.start_run(pg, run_id="preview_test_run", interval_end=datetime.fromisoformat(AS_OF))
    card_store.runs.finish_run(
        pg,
        run_id="preview_test_run",
        status="success",
        counts={"subscribers_served": SUBSCRIBERS, "cards_written": SUBSCRIBERS},
    )
    return expected


@pytest.fixture(scope="module")
def api_server(card_store_db, tmp_path_factory):
    """`airflow api-server` on a free port with this project's plugins folder; yields its URL."""
    port = free_port()
    home = tmp_path_factory.mktemp("api-home")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(dict.fromkeys(("admin", "viewer", "nobody"), PASSWORD)))
    env = {
        **os.environ,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "PYTHONPATH": str(ROOT),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "card-preview-api-server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(proc, f"{url}/api/v2/monitor/health", 90, f"api-server (log {log.name})")
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


def _token(url: str, username: str = "admin") -> str:
    resp = requests.post(f"{url}/auth/token", json={"username": username, "password": PASSWORD}, timeout=10)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()["access_token"]


def _bearer(url: str, username: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(url, username)}"}


GUARDED = [
    ("GET", "/card-preview/"),
    ("GET", "/card-preview/static/preview.js"),
    ("GET", "/card-preview/api/subscribers"),
    ("GET", "/card-preview/api/runs/latest"),
    ("GET", "/card-preview/api/users/u00001/cards"),
    ("POST", "/card-preview/api/users/u00001/action"),
]
OPEN_PAGE = {"verb": "open_page", "data": {"scenario_id": "daily_brief", "page_id": "overview", "key": None}}


def _call(url: str, method: str, path: str, **kwargs) -> requests.Response:
    body = {"json": OPEN_PAGE} if method == "POST" else {}
    return requests.request(method, url + path, timeout=10, **body, **kwargs)


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_unauthenticated_requests_are_refused(api_server, method, path):
    assert _call(api_server, method, path).status_code == 401
    forged = _call(api_server, method, path, headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code in (401, 403)
    assert _call(api_server, method, path, cookies={"_token": "not-a-jwt"}).status_code in (401, 403)


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_a_logged_in_user_who_may_not_read_the_dag_is_forbidden(api_server, stored_cards, method, path):
    """`nobody` logs in (a valid JWT, accepted by the rest of the API) but may read no DAG."""
    nobody = _bearer(api_server, "nobody")
    me = requests.get(f"{api_server}/ui/auth/me", headers=nobody, timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "nobody"  # logged in
    assert requests.get(f"{api_server}/api/v2/dags/{DAG_ID}", headers=nobody, timeout=10).status_code == 403
    assert _call(api_server, method, path, headers=nobody).status_code == 403
    assert _call(api_server, method, path, cookies={"_token": _token(api_server, "nobody")}).status_code == 403


def test_a_viewer_who_may_read_the_dag_gets_through(api_server, stored_cards):
    """Not only admins: the VIEWER role may read every DAG, so it may preview the cards."""
    viewer = _bearer(api_server, "viewer")
    users = requests.get(f"{api_server}/card-preview/api/subscribers", headers=viewer, timeout=10)
    assert users.status_code == 200 and {u["user_id"] for u in users.json()} >= set(stored_cards)
    page = requests.get(f"{api_server}/card-preview/", headers=viewer, timeout=10)
    assert page.status_code == 200 and "adaptivecards.min.js" in page.text
    answer = _call(api_server, "POST", f"/card-preview/api/users/{next(iter(stored_cards))}/action", headers=viewer)
    assert answer.status_code == 200 and answer.json()["response"]["type"] == CARD_CONTENT_TYPE


@pytest.mark.parametrize(
    "path",
    ["/card-preview/docs", "/card-preview/redoc", "/card-preview/openapi.json", "/card-preview/docs/oauth2-redirect"],
)
def test_fastapi_docs_and_schema_are_not_served(api_server, path):
    """FastAPI serves these outside the app's dependencies: the plugin turns them off."""
    assert requests.get(api_server + path, timeout=10).status_code == 404
    assert requests.get(api_server + path, headers=_bearer(api_server), timeout=10).status_code == 404


def test_json_api_serves_the_stored_cards_and_the_latest_run(api_server, stored_cards):
    headers = {"Authorization": f"Bearer {_token(api_server)}"}
    users = requests.get(f"{api_server}/card-preview/api/subscribers", headers=headers, timeout=10).json()
    assert {u["user_id"] for u in users} == {*stored_cards, BROKEN_USER, NAV_USER}
    ko = requests.get(f"{api_server}/card-preview/api/subscribers?q=Broken", headers=headers, timeout=10).json()
    assert [u["user_id"] for u in ko] == [BROKEN_USER]

    user_id, (locale, pages, cards) = next(iter(stored_cards.items()))
    view = requests.get(f"{api_server}/card-preview/api/users/{user_id}/cards", headers=headers, timeout=10).json()
    assert view["locale"] == view["stored_locale"] == locale
    assert view["results"][0]["cards"] == cards and view["results"][0]["pages"] == pages

    other = "ko-KR" if locale == "en-US" else "en-US"
    again = requests.get(
        f"{api_server}/card-preview/api/users/{user_id}/cards?locale={other}", headers=headers, timeout=10
    ).json()
    assert again["locale"] == other and again["results"][0]["rendered_now"] is True
    assert again["results"][0]["cards"] == render_cards(
        "daily_brief",
        pages,
        other,
        erp_base_url=ERP,
        context={k: pages["overview"][k] for k in ("sales_org_cd", "currency", "period", "as_of")},
    )

    missing = requests.get(f"{api_server}/card-preview/api/users/nobody/cards", headers=headers, timeout=10)
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    bad_locale = requests.get(
        f"{api_server}/card-preview/api/users/{user_id}/cards?locale=fr-FR", headers=headers, timeout=10
    )
    assert bad_locale.status_code == 422 and "fr-FR" in bad_locale.text

    run = requests.get(f"{api_server}/card-preview/api/runs/latest", headers=headers, timeout=10).json()
    assert (run["run_id"], run["status"], run["cards_written"]) == ("preview_test_run", "success", SUBSCRIBERS)


def test_preview_is_linked_from_the_airflow_ui(api_server):
    headers = {"Authorization": f"Bearer {_token(api_server)}"}
    plugins = requests.get(f"{api_server}/api/v2/plugins", headers=headers, timeout=10).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "card_preview")
    assert ours["external_views"][0]["href"] == "card-preview/"
    assert ours["external_views"][0]["destination"] == "nav"
    # The UI opens the view in a frame at the href, relative to its own base: that page must load.
    page = requests.get(f"{api_server}/{ours['external_views'][0]['href']}", headers=headers, timeout=10)
    assert page.status_code == 200 and "adaptivecards.min.js" in page.text


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api as playwright  # pip playwright; its own browsers are never downloaded

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield chromium
        chromium.close()


def _open(browser, api_server, query: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": "_token", "value": _token(api_server), "url": api_server}])
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("requestfailed", lambda req: page_errors.append(f"request failed: {req.url}"))
    page.goto(f"{api_server}/card-preview/?{query}")
    page.wait_for_selector("body[data-status=ready]", timeout=20_000)
    return context, page, page_errors


def _panels(page) -> list[dict]:
    return page.eval_on_selector_all(
        ".card-panel",
        """els => els.map(e => ({
        page: e.dataset.page, stored_page: e.dataset.storedPage,
        errors: +e.dataset.errors, warnings: +e.dataset.warnings,
        note: e.querySelector('.action-note').textContent,
        rendered: !!e.querySelector('.card-host .ac-adaptiveCard'),
        text: e.querySelector('.card-host').innerText,
        problems: [...e.querySelectorAll('.problems li')].map(li => li.className + ' ' + li.textContent)}))""",
    )


def test_every_page_renders_without_renderer_errors_in_both_locales(api_server, stored_cards, browser):
    sample = list(stored_cards)[:3]
    for user_id in sample:
        locale, pages, cards = stored_cards[user_id]
        for shown in (locale, "ko-KR" if locale == "en-US" else "en-US"):
            context, page, page_errors = _open(browser, api_server, f"user={user_id}&locale={shown}")
            panels = _panels(page)
            assert [p["page"] for p in panels] == list(cards), user_id
            for panel in panels:
                assert panel["rendered"] and panel["errors"] == 0, (user_id, shown, panel["page"], panel["problems"])
                assert pages["overview"]["period"] in panel["text"], (user_id, shown, panel["page"])
            assert page.is_checked(f"input[name=locale][value={shown}]")
            assert page_errors == [], page_errors
            if user_id == sample[0]:
                page.screenshot(path=str(ARTIFACTS / f"preview-{shown}.png"), full_page=True)
            context.close()


def test_renderer_problems_are_shown(api_server, stored_cards, browser):
    context, page, _page_errors = _open(browser, api_server, f"user={BROKEN_USER}")
    panels = _panels(page)
    assert len(panels) == 1 and panels[0]["rendered"]
    assert panels[0]["errors"] + panels[0]["warnings"] >= 1
    assert any("NoSuchElement" in problem for problem in panels[0]["problems"]), panels[0]["problems"]
    page.screenshot(path=str(ARTIFACTS / "preview-renderer-warning.png"), full_page=True)
    context.close()


def test_search_and_pick_a_subscriber(api_server, stored_cards, browser):
    context, page, _ = _open(browser, api_server, "")
    user_id = list(stored_cards)[1]
    page.fill("#search", user_id)
    page.wait_for_function("document.querySelectorAll('#subscriber-list li').length === 1")
    page.click(f"#subscriber-list li[data-user-id={user_id}]")
    page.wait_for_function("document.body.dataset.status === 'ready' && document.querySelector('.card-panel')")
    assert [p["page"] for p in _panels(page)] == list(stored_cards[user_id][2])
    assert "preview_test_run" in page.inner_text("#run-summary")
    context.close()


def _act(url: str, user_id: str, verb, data, **params) -> dict:
    resp = requests.post(
        f"{url}/card-preview/api/users/{user_id}/action",
        json={"verb": verb, "data": data},
        params=params,
        headers=_bearer(url),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_action_api_answers_what_the_bot_answers(api_server, stored_cards):
    pg = card_store.hook()
    _pages, cards = navigation_row()
    for page_id, key in (("account_detail_1", "A100"), ("model_detail_1", "WF45B6300AP/US"), ("accounts", None)):
        data = {"scenario_id": "daily_brief", "page_id": page_id, "key": key}
        answer = _act(api_server, NAV_USER, "open_page", data)
        assert answer["response"] == invoke_response(pg, user_id=NAV_USER, verb="open_page", data=data)
        assert answer["response"]["value"] == cards[page_id]
        assert (answer["page_id"], answer["locale"], answer["rendered_now"]) == (page_id, NAV_LOCALE, False)

    gone = _act(
        api_server, NAV_USER, "open_page", {"scenario_id": "daily_brief", "page_id": "account_detail_2", "key": "A777"}
    )
    assert gone["page_id"] is None and gone["response"]["type"] == CARD_CONTENT_TYPE
    assert gone["response"]["value"]["body"][0]["text"] == note_text("daily_brief", NAV_LOCALE)
    assert gone["response"]["value"]["body"][1:] == cards["overview"]["body"]

    bad = _act(api_server, NAV_USER, "delete_everything", {})
    assert bad["page_id"] is None and "unknown verb 'delete_everything'" in bad["response"]["value"]
    nobody = _act(api_server, "nobody", "open_page", {"scenario_id": "daily_brief", "page_id": "overview"})
    assert "no daily_brief cards" in nobody["response"]["value"]


def test_action_api_renders_the_answer_in_the_previewed_locale(api_server, stored_cards):
    """The preview shows another locale rendered now: a click answers in that locale too."""
    user_id, (locale, pages, _cards) = next(iter(stored_cards.items()))
    other = "ko-KR" if locale == "en-US" else "en-US"
    answer = _act(api_server, user_id, "open_page", {"scenario_id": "daily_brief", "page_id": "accounts"}, locale=other)
    context = {k: pages["overview"][k] for k in ("sales_org_cd", "currency", "period", "as_of")}
    rendered = render_cards("daily_brief", pages, other, erp_base_url=ERP, context=context)
    assert (answer["page_id"], answer["locale"], answer["rendered_now"]) == ("accounts", other, True)
    assert answer["response"]["value"] == rendered["accounts"]
    gone = _act(
        api_server,
        user_id,
        "open_page",
        {"scenario_id": "daily_brief", "page_id": "account_detail_9", "key": "X"},
        locale=other,
    )
    assert gone["response"]["value"]["body"][0]["text"] == note_text("daily_brief", other)
    assert gone["response"]["value"]["body"][1:] == rendered["overview"]["body"]
    bad_locale = requests.post(
        f"{api_server}/card-preview/api/users/{user_id}/action?locale=fr-FR",
        json=OPEN_PAGE,
        headers=_bearer(api_server),
        timeout=10,
    )
    assert bad_locale.status_code == 422 and "fr-FR" in bad_locale.text


def _nav_panel(page):
    return page.locator('.card-panel[data-stored-page="overview"]')


def _click_and_wait(page, target, expected_page: str) -> dict:
    """Click ``target`` in the overview panel; wait until the bot's answer replaced the card."""
    target.click()
    selector = f'.card-panel[data-stored-page="overview"][data-status="ready"][data-page="{expected_page}"]'
    try:
        page.wait_for_selector(selector, timeout=10_000)
    except Exception:  # playwright's TimeoutError: say what the panel shows instead
        shown = next(p for p in _panels(page) if p["stored_page"] == "overview")
        pytest.fail(f"expected {expected_page!r}, the panel shows {shown['page']!r}: {shown['note']!r}")
    return next(p for p in _panels(page) if p["stored_page"] == "overview")


def test_clicks_open_pages_in_place_and_back_returns(api_server, stored_cards, browser):
    """overview → account detail → model detail → Back → Back (→ accounts, as the contract's
    Back of an account page goes) → Back → overview; the ERP link opens in a new tab."""
    context, page, page_errors = _open(browser, api_server, f"user={NAV_USER}")
    context.route(f"{ERP}/**", lambda route: route.fulfill(status=200, body="the ERP", content_type="text/plain"))
    _, cards = navigation_row()
    panel = _nav_panel(page)
    host = panel.locator(".card-host")
    assert _panels(page)[0]["page"] == "overview" and "Overview of u_nav" in host.inner_text()

    steps = [
        (host.get_by_text("A100", exact=True), "account_detail_1", "Account A100"),
        (host.get_by_text("WF45B6300AP/US", exact=True), "model_detail_1", "Model WF45B6300AP/US"),
    ]
    for target, page_id, title in steps:
        shown = _click_and_wait(page, target, page_id)
        assert shown["text"].startswith(title) and shown["errors"] == 0, shown
        assert f"→ {page_id}" in shown["note"]
    page.screenshot(path=str(ARTIFACTS / "preview-navigation.png"), full_page=True)

    for page_id, title in (
        ("account_detail_1", "Account A100"),
        ("accounts", "All accounts"),
        ("overview", "Overview of u_nav"),
    ):
        shown = _click_and_wait(page, host.get_by_role("button", name="Back"), page_id)
        assert shown["text"].startswith(title), shown

    # A link to a page the brief no longer has: the overview, with the note on top.
    shown = _click_and_wait(page, host.get_by_text("A777 (yesterday's link)"), "")
    assert shown["text"].startswith(note_text("daily_brief", NAV_LOCALE)) and "Overview of u_nav" in shown["text"]
    assert "no longer in the brief" in shown["note"]

    with context.expect_page() as popup:
        host.get_by_role("link", name="Open in ERP").click()  # OpenUrl: role link
    popup.value.wait_for_load_state()
    assert popup.value.url == NAV_ERP
    # The other panels still show their own stored cards: a click changes only its own card.
    assert {p["stored_page"]: p["page"] for p in _panels(page)} == {
        "overview": "",
        "accounts": "accounts",
        "account_detail_1": "account_detail_1",
        "model_detail_1": "model_detail_1",
    }
    assert set(cards) == {p["stored_page"] for p in _panels(page)}
    shown = _click_and_wait(page, panel.locator(".reset"), "overview")  # the preview's own way back
    assert shown["text"] == _panels(page)[0]["text"] and shown["text"].startswith("Overview of u_nav")
    assert page_errors == [], page_errors
    context.close()


def test_clicks_through_the_real_cards(api_server, stored_cards, browser):
    """The same click-through on cards the pipeline's templates and renderer made (pages from
    the contract's reference): overview → account_detail_1 → a model page → Back (to the
    model page's linked_from[0]) → Back (accounts) → Back (overview). Each card shown in place
    is the stored card of that page, as its own panel shows it."""
    linked = [
        (user_id, locale, pages, models)
        for user_id, (locale, pages, _cards) in stored_cards.items()
        if (models := [m for m in pages.get("account_detail_1", {}).get("models", []) if m.get("page")])
    ]
    assert linked, "no seeded subscriber has an account page that links a model page"
    user_id, locale, pages, models = min(linked, key=lambda found: found[1] != "en-US")  # en-US for the screenshot
    account, model = pages["account_detail_1"]["account"], models[0]
    back = json.loads((TEMPLATES_ROOT / "daily_brief" / f"labels.{locale}.json").read_text(encoding="utf-8"))["back"]
    context, page, page_errors = _open(browser, api_server, f"user={user_id}")
    host = _nav_panel(page).locator(".card-host")
    stored = {p["stored_page"]: p["text"] for p in _panels(page)}

    steps = [
        (host.get_by_text(account, exact=True).first, "account_detail_1"),
        (host.get_by_text(model["material"], exact=True).first, model["page"]),
        (host.get_by_role("button", name=back), pages[model["page"]]["linked_from"][0]),
        (host.get_by_role("button", name=back), "accounts"),
        (host.get_by_role("button", name=back), "overview"),
    ]
    assert steps[2][1] == "account_detail_1"  # the model is listed there first
    for n, (target, page_id) in enumerate(steps):
        shown = _click_and_wait(page, target, page_id)
        assert shown["text"] == stored[page_id] and shown["errors"] == 0, (user_id, page_id, shown["problems"])
        if n == 1:
            page.screenshot(path=str(ARTIFACTS / "preview-navigation-real.png"))
    assert page_errors == [], page_errors
    context.close()
