"""The stand-in's reset (t2a_standin/reset.py) on the real stand-in over HTTP and the real card
store: it re-seeds subscribers, clears faults and stats, empties results only when confirmed,
and refuses a T2A that is not the stand-in or a card store that is not the local one."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from include import card_store
from t2a_standin import reset


@pytest.fixture
def standin(t2a_server, t2a_token, pg, monkeypatch):
    """T2A_API_URL / T2A_TOKEN as `. scripts/env.sh` sets them, pointed at the test stand-in."""
    url = f"http://{t2a_server.host}:{t2a_server.port}"
    monkeypatch.setenv("T2A_API_URL", url)
    monkeypatch.setenv("T2A_TOKEN", t2a_token)
    return url, {"Authorization": f"Bearer {t2a_token}"}


def _store_one_result(pg) -> None:
    row = card_store.results.CardRow("u-old", "daily_brief", "5503", "{}", "{}", "h1")
    card_store.results.store_cards(pg, [row], run_id="r-old", interval_end=datetime(2026, 11, 1, tzinfo=UTC))


def _count(pg, table: str) -> int:
    return pg.get_first(f"SELECT count(*) FROM {table}")[0]


def test_reset_reseeds_and_clears_faults_and_stats_but_keeps_results(standin, pg, capsys):
    url, admin = standin
    rule = [{"kind": "status", "org": "9999", "status": 500}]
    assert requests.post(f"{url}/_admin/faults", json=rule, headers=admin, timeout=5).status_code == 200
    requests.post(f"{url}/api/v1/query", json={}, headers=admin, timeout=5)  # counted in the stats
    _store_one_result(pg)

    assert reset.main(["--subscribers", "25"]) == 0
    assert requests.get(f"{url}/_admin/faults", headers=admin, timeout=5).json() == {"rules": []}
    assert requests.get(f"{url}/_admin/stats", headers=admin, timeout=5).json()["total"] == 0
    assert _count(pg, "card_subscriber") == 25
    assert _count(pg, "user_scenario_result") == 1  # no --results


def test_reset_empties_results_only_when_confirmed(standin, pg, capsys):
    _store_one_result(pg)
    assert reset.main(["--results"]) == 1  # stdin is not a terminal: it must not guess
    assert "--yes" in capsys.readouterr().err
    assert _count(pg, "user_scenario_result") == 1

    assert reset.main(["--subscribers", "5", "--results", "--yes"]) == 0
    assert _count(pg, "card_subscriber") == 5
    for table in reset.RESULT_TABLES:
        assert _count(pg, table) == 0, table


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_reset_refuses_a_t2a_that_is_not_the_standin(standin, pg, capsys, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("T2A_API_URL", url)
        assert reset.main(["--subscribers", "5"]) == 1
        err = capsys.readouterr().err
        assert "is not the T2A stand-in" in err and url in err
        assert _count(pg, "card_subscriber") == 0
    finally:
        server.shutdown()
        server.server_close()


def _card_store_at(monkeypatch, host: str, database: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CARD_STORE",
        json.dumps({"conn_type": "postgres", "host": host, "port": 5432, "login": "postgres", "schema": database}),
    )


@pytest.mark.parametrize(
    ("host", "database", "found"),
    [
        ("db.prod.example.com", "adaptive_card_db", "host 'db.prod.example.com' is not 127.0.0.1 or localhost"),
        ("10.0.0.7", "acp_test_1", "host '10.0.0.7' is not 127.0.0.1 or localhost"),
        ("127.0.0.1", "sales_cards", "database 'sales_cards' is not 'adaptive_card_db'"),
        ("localhost", "acp_testing", "database 'acp_testing' is not 'adaptive_card_db'"),
    ],
)
def test_reset_refuses_a_card_store_that_is_not_the_local_one(standin, pg, capsys, monkeypatch, host, database, found):
    """Checked first: nothing is asked, seeded or cleared, not even with --results --yes."""
    url, admin = standin
    rule = [{"kind": "status", "org": "9999", "status": 500}]
    assert requests.post(f"{url}/_admin/faults", json=rule, headers=admin, timeout=5).status_code == 200
    try:
        _store_one_result(pg)
        with monkeypatch.context() as m:
            _card_store_at(m, host, database)
            assert reset.main(["--subscribers", "5", "--results", "--yes"]) == 1
        err = capsys.readouterr().err
        assert f"connection card_store points at database {database!r} on {host}:5432" in err, err
        assert found in err and "refusing to reset it" in err
        assert _count(pg, "card_subscriber") == 0 and _count(pg, "user_scenario_result") == 1
        rules = requests.get(f"{url}/_admin/faults", headers=admin, timeout=5).json()["rules"]
        assert [(r["kind"], r["org"], r["status"]) for r in rules] == [("status", "9999", 500)]
    finally:
        requests.delete(f"{url}/_admin/faults", headers=admin, timeout=5)


@pytest.mark.parametrize(
    ("host", "database", "local"),
    [
        ("127.0.0.1", "adaptive_card_db", True),
        ("localhost", "adaptive_card_db", True),
        ("LOCALHOST", "acp_test_4242", True),
        ("127.0.0.1", "acp_bench", True),
        ("127.0.0.1", "adaptive_card_db_prod", False),
        ("127.0.0.2", "adaptive_card_db", False),
        (None, "adaptive_card_db", False),  # libpq's default (socket or PGHOST): not known to be local
        ("127.0.0.1", None, False),
    ],
)
def test_which_card_stores_are_the_local_one(host, database, local):
    assert (reset.local_card_store_problem(host, database) is None) == local


def test_reset_says_which_card_store_it_reset(standin, pg, capsys, card_store_db):
    assert reset.main(["--subscribers", "3"]) == 0
    assert f"card store database '{card_store_db}' on " in capsys.readouterr().out
