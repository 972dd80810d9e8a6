"""The card-preview plugin in a real `airflow api-server` (plugins folder = plugins/), over real
HTTP, with real cards in a real card store, rendered by the bundled `adaptivecards` renderer in
a real headless Chromium (Debian's /usr/bin/chromium via playwright; never downloaded).

Cards come from data fetched from the T2A stand-in, pages computed by the contract's
independent reference (tests/daily_brief_reference.py) and cards rendered by include.cards —
what the pipeline stores. Screenshots: artifacts/preview-*.png.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from include import card_store
from include.cards import render_cards
from t2a_standin import seed
from t2a_standin.data import DataConfig, Dataset
from tests.support import ROOT
from tests.support.dag_runs import t2a_inputs
from tests.support.daily_brief_reference import reference_pages

ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
AS_OF = "2026-11-26T10:00:00+00:00"
SUBSCRIBERS = 10
BROKEN_USER = "u_broken"
ERP = "https://erp.example.com"
PASSWORD = "preview-test-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    home = tmp_path_factory.mktemp("api-home")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": PASSWORD}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
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
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"api-server exited {proc.returncode}; see {log.name}"
            try:
                if requests.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"api-server not healthy after 90 s; see {log.name}"
            time.sleep(0.5)
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


@pytest.mark.parametrize(
    "path",
    [
        "/card-preview/",
        "/card-preview/static/preview.js",
        "/card-preview/api/subscribers",
        "/card-preview/api/runs/latest",
        "/card-preview/api/users/u00001/cards",
    ],
)
def test_unauthenticated_requests_are_refused(api_server, path):
    assert requests.get(api_server + path, timeout=10).status_code == 401
    forged = requests.get(api_server + path, timeout=10, headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code in (401, 403)
    assert requests.get(api_server + path, timeout=10, cookies={"_token": "not-a-jwt"}).status_code in (401, 403)


def test_json_api_serves_the_stored_cards_and_the_latest_run(api_server, stored_cards):
    headers = {"Authorization": f"Bearer {_token(api_server)}"}
    users = requests.get(f"{api_server}/card-preview/api/subscribers", headers=headers, timeout=10).json()
    assert {u["user_id"] for u in users} == {*stored_cards, BROKEN_USER}
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
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
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
        page: e.dataset.page, errors: +e.dataset.errors, warnings: +e.dataset.warnings,
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
