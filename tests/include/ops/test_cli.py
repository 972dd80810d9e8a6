"""The operators' CLI (include/ops/cli.py) and dead-letter handling (include/ops/dead_letters.py) on
real services: the card store in PostgreSQL, Celery's queues in Redis, the T2A stand-in over
HTTP and plain `airflow dags test` subprocesses for the smoke test and a replay.

The tests share module state in the order an operator works: smoke test, status, cards,
and dead letters.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from include import card_store
from include.ops import cli as ops_cli
from include.ops import dead_letters
from t2a_standin import seed
from t2a_standin.data import Dataset, preset
from tests.support import ROOT

SMOKE_SUBSCRIBERS = 6
BROKER_DB = 13  # a Redis database of its own, so no real worker or queue is ever seen


@pytest.fixture(scope="module")
def standin_env(t2a_server, t2a_token, card_store_db, tmp_path_factory):
    """What `. scripts/env.sh` gives the CLI, pointed at the test stand-in and card store."""
    saved = {
        k: os.environ.get(k)
        for k in (
            "T2A_API_URL",
            "T2A_TOKEN",
            "STAGING_URL",
            "T2A_BACKOFF_BASE",
            "AIRFLOW__CELERY__BROKER_URL",
            "AIRFLOW_API_URL",
        )
    }
    os.environ.update(
        {
            "T2A_API_URL": f"http://{t2a_server.host}:{t2a_server.port}",
            "T2A_TOKEN": t2a_token,
            "STAGING_URL": tmp_path_factory.mktemp("staging").as_uri(),
            "T2A_BACKOFF_BASE": "0.05",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{BROKER_DB}",
        }
    )
    os.environ.pop("AIRFLOW_API_URL", None)  # replays go through `airflow dags test`
    yield os.environ["T2A_API_URL"]
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()  # drop what the test itself logged (Airflow hooks log to stdout)
    code = ops_cli.main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def smoke_output(standin_env):
    """One smoke test for the module (it is one `airflow dags test`): (exit code, output)."""
    card_store.hook().run(
        "TRUNCATE card_subscriber, user_scenario_result, pipeline_dead_letter, pipeline_run,"
        " card_change_outbox RESTART IDENTITY"
    )
    seed.seed(card_store.hook(), Dataset(preset("small")), SMOKE_SUBSCRIBERS)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ops_cli.main(["smoke", "--subscribers", str(SMOKE_SUBSCRIBERS), "--batch-size", "3"])
    return code, out.getvalue()


def test_the_wrapper_script_is_the_entry_point():
    proc = subprocess.run(
        [str(ROOT / "scripts" / "acp"), "dead-letters", "replay", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith("usage: acp dead-letters replay"), proc.stderr[-2000:]


def test_every_subcommand_has_help(capsys):
    for argv in (
        ["--help"],
        ["status", "--help"],
        ["cards", "--help"],
        ["dead-letters", "--help"],
        ["dead-letters", "list", "--help"],
        ["dead-letters", "replay", "--help"],
        ["dead-letters", "settle", "--help"],
        ["dead-letters", "dismiss", "--help"],
        ["smoke", "--help"],
    ):
        with pytest.raises(SystemExit) as exit_:
            ops_cli.main(argv)
        assert exit_.value.code == 0
        assert capsys.readouterr().out.startswith("usage: acp"), argv


def test_smoke_runs_the_dag_once_and_passes(smoke_output):
    code, out = smoke_output
    assert code == 0 and "PASS" in out, out
    pg = card_store.hook()
    run_id, status, served = pg.get_first("SELECT run_id, status, subscribers_served FROM pipeline_run")
    assert (status, served) == ("success", SMOKE_SUBSCRIBERS)
    users = [row[0] for row in pg.get_records("SELECT user_id FROM card_subscriber ORDER BY user_id")]
    assert f"stored valid cards for {', '.join(users)}" in out
    assert (
        pg.get_first("SELECT count(*) FROM user_scenario_result WHERE run_id = %s", parameters=(run_id,))[0]
        == SMOKE_SUBSCRIBERS
    )


def test_smoke_fails_clearly_when_t2a_does_not_answer(capsys, standin_env, monkeypatch):
    with not_the_standin() as url:
        port = int(url.rsplit(":", 1)[1])
        monkeypatch.setenv(
            "AIRFLOW_CONN_T2A_API",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": "x"}),
        )
        monkeypatch.setenv("T2A_MAX_ATTEMPTS", "1")
        runs_before = card_store.hook().get_first("SELECT count(*) FROM pipeline_run")[0]
        code, out = cli(capsys, "smoke", "--user", "u00001")
        assert code == 1 and "T2A does not answer" in out, out
        assert card_store.hook().get_first("SELECT count(*) FROM pipeline_run")[0] == runs_before


def test_status_reports_runs_dead_letters_queues_and_workers(capsys, smoke_output):
    pg = card_store.hook()
    card_store.dead_letters.record(
        pg,
        run_id="r_status",
        stage="fetch",
        item_key="9999",
        payload={"sales_org_cd": "9999"},
        error="HTTP 503",
        attempts=4,
    )
    broker = redis.Redis(host="127.0.0.1", port=6379, db=BROKER_DB)
    broker.flushdb()
    broker.lpush("sales_org", "m1", "m2")
    broker.lpush("adaptive_card\x06\x163", "m3")  # a priority-3 message: Celery's own key for it
    try:
        started = time.monotonic()
        code, out = cli(capsys, "status", "--json")
        elapsed = time.monotonic() - started
    finally:
        broker.flushdb()
    report = json.loads(out)
    assert code == 0
    latest = report["runs"][0]
    expected = pg.get_first("SELECT run_id, cards_written FROM pipeline_run ORDER BY started_at DESC LIMIT 1")
    assert (latest["run_id"], latest["cards_written"]) == expected
    assert report["open_dead_letters"] == {"fetch": 1}
    assert report["queues"] == {"default": 0, "sales_org": 2, "adaptive_card": 1}
    assert report["workers"] == [] and elapsed < 20  # nobody answers on this broker; no hang


def test_status_survives_an_unreachable_broker(capsys, smoke_output, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://:secret@127.0.0.1:1/0")
    code, out = cli(capsys, "status", "--json")
    report = json.loads(out)
    assert code == 0 and "unreachable" in report["queues"]["error"] and "secret" not in out


def test_cards_shows_the_stored_cards_and_renders_the_other_locale(capsys, smoke_output):
    pg = card_store.hook()
    user_id, locale, cards = pg.get_first(
        "SELECT r.user_id, s.locale, r.cards FROM user_scenario_result r"
        " JOIN card_subscriber s USING (user_id) ORDER BY user_id LIMIT 1"
    )
    code, out = cli(capsys, "cards", user_id, "--json")
    view = json.loads(out)
    assert code == 0 and view["results"][0]["cards"] == cards
    assert next(iter(view["results"][0]["cards"])) == "overview"  # the scenario's page order, not jsonb's

    other = "ko-KR" if locale == "en-US" else "en-US"
    code, out = cli(capsys, "cards", user_id, "--page", "overview", "--locale", other)
    card = json.loads(out[out.index("{") :])
    assert code == 0 and card["type"] == "AdaptiveCard" and card != cards["overview"]
    assert card["lang"] == other[:2]

    code, out = cli(capsys, "cards", "nobody")
    assert code == 1 and "nobody" in out
    code, out = cli(capsys, "cards", user_id, "--page", "nosuchpage")
    assert code == 1 and "nosuchpage" in out and "overview" in out


def test_dismiss_keeps_the_reason_and_refuses_closed_rows(capsys, smoke_output):
    pg = card_store.hook()
    card_store.dead_letters.record(
        pg,
        run_id="r_dismiss",
        stage="scenario",
        item_key="u99999:daily_brief",
        payload={"user_id": "u99999", "scenario_id": "daily_brief"},
        error="boom",
        attempts=1,
    )
    dl_id = pg.get_first("SELECT id FROM pipeline_dead_letter WHERE run_id = 'r_dismiss'")[0]
    code, out = cli(capsys, "dead-letters", "dismiss", str(dl_id), "--reason", "user left the company")
    assert code == 0
    resolved_at, resolution = pg.get_first(
        "SELECT resolved_at, resolution FROM pipeline_dead_letter WHERE id = %s", parameters=(dl_id,)
    )
    assert resolved_at is not None and resolution == "dismissed: user left the company"
    code, out = cli(capsys, "dead-letters", "dismiss", str(dl_id), "--reason", "again")
    assert code == 1 and "already resolved" in out and str(dl_id) in out
    code, out = cli(capsys, "dead-letters", "dismiss", "987654", "--reason", "x")
    assert code == 1 and "987654" in out
    code, out = cli(capsys, "dead-letters", "list", "--all", "--json")
    assert any(row["id"] == dl_id and row["resolution"].startswith("dismissed") for row in json.loads(out))


def test_replay_groups_orgs_and_users_into_separate_runs():
    def letter(i: int, stage: str, payload: dict) -> dead_letters.DeadLetter:
        return dead_letters.DeadLetter(i, "r", stage, "k", payload, "e", 1, datetime.now(), None, None)

    groups = dead_letters.replay_groups(
        [
            letter(1, "fetch", {"sales_org_cd": "5503"}),
            letter(2, "scenario", {"user_id": "u2"}),
            letter(3, "subscriber", {"user_id": "u1"}),
            letter(4, "fetch", {"sales_org_cd": "1802"}),
            letter(5, "scenario", {"user_id": "u2"}),
        ]
    )
    assert groups == [({"sales_orgs": ["1802", "5503"]}, [1, 4]), ({"user_ids": ["u1", "u2"]}, [2, 3, 5])]
    with pytest.raises(dead_letters.DeadLetterError, match=r"dead letter 7 .*'user_id'"):
        dead_letters.replay_groups([letter(7, "scenario", {"scenario_id": "daily_brief"})])
    with pytest.raises(dead_letters.DeadLetterError, match="stage 'merge' cannot be replayed"):
        dead_letters.replay_groups([letter(8, "merge", {})])


def test_replay_by_dags_test_resolves_only_what_the_run_served(capsys, smoke_output):
    """One real replay run for two users: one is served again (resolved), one was deactivated
    meanwhile (no card: stays open, with the reason)."""
    pg = card_store.hook()
    served, gone = [row[0] for row in pg.get_records("SELECT user_id FROM card_subscriber ORDER BY user_id LIMIT 2")]
    pg.run("UPDATE card_subscriber SET active = false WHERE user_id = %s", parameters=(gone,))
    for user in (served, gone):
        card_store.dead_letters.record(
            pg,
            run_id="r_replay",
            stage="scenario",
            item_key=f"{user}:daily_brief",
            payload={"user_id": user, "scenario_id": "daily_brief"},
            error="x",
            attempts=1,
        )
    ids = [
        row[0] for row in pg.get_records("SELECT id FROM pipeline_dead_letter WHERE run_id = 'r_replay' ORDER BY id")
    ]
    code, out = cli(capsys, "dead-letters", "replay", *map(str, ids))
    rows = {
        r[0]: r[1:]
        for r in pg.get_records(
            "SELECT item_key, resolved_at, resolution FROM pipeline_dead_letter WHERE id = ANY(%s)", parameters=(ids,)
        )
    }
    run_id = pg.get_first("SELECT run_id FROM pipeline_run ORDER BY started_at DESC LIMIT 1")[0]
    assert run_id.startswith("manual__") and run_id in out
    resolved_at, resolution = rows[f"{served}:daily_brief"]
    assert resolved_at is not None and resolution == f"replayed by run {run_id}"
    assert pg.get_first("SELECT run_id FROM user_scenario_result WHERE user_id = %s", parameters=(served,))[0] == run_id
    resolved_at, resolution = rows[f"{gone}:daily_brief"]
    assert resolved_at is None and resolution.startswith(f"replay in run {run_id} did not resolve it")
    assert gone in resolution
    assert code == 1  # not everything was resolved
    code, out = cli(capsys, "dead-letters", "replay", str(ids[0]))
    assert code == 1 and "already resolved" in out


def test_settle_decides_fetch_replays_by_the_cards_the_run_stored(smoke_output):
    """settle() on real rows: a finished run that stored cards of org A resolves A's fetch dead
    letter, not B's (no card of B), and leaves a claim on an unfinished run alone."""
    pg = card_store.hook()
    org_a, user_a = pg.get_first("SELECT sales_org_cd, user_id FROM card_subscriber WHERE active ORDER BY user_id")
    for org in (org_a, "0000"):
        card_store.dead_letters.record(
            pg,
            run_id="r_fetch",
            stage="fetch",
            item_key=org,
            payload={"sales_org_cd": org},
            error="HTTP 503",
            attempts=4,
        )
    card_store.dead_letters.record(
        pg,
        run_id="r_fetch",
        stage="fetch",
        item_key="pending",
        payload={"sales_org_cd": "pending"},
        error="HTTP 503",
        attempts=4,
    )
    ids = dict(pg.get_records("SELECT item_key, id FROM pipeline_dead_letter WHERE run_id = 'r_fetch'"))
    later = datetime.fromisoformat("2030-01-01T00:00:00+00:00")
    dead_letters.claim(pg, [ids[org_a], ids["0000"]], "replay_done")
    dead_letters.claim(pg, [ids["pending"]], "replay_running")
    card_store.runs.start_run(pg, run_id="replay_done", interval_end=later)
    card_store.runs.start_run(pg, run_id="replay_running", interval_end=later + timedelta(hours=1))
    pages, cards = pg.get_first(
        "SELECT pages::text, cards::text FROM user_scenario_result WHERE user_id = %s", parameters=(user_a,)
    )
    card_store.results.store_cards(
        pg,
        [card_store.results.CardRow(user_a, "daily_brief", org_a, pages, cards, "h")],
        run_id="replay_done",
        interval_end=later,
    )
    card_store.runs.finish_run(pg, run_id="replay_done", status="success", counts={"orgs_fetched": 1})

    outcome = dead_letters.settle(pg)
    assert outcome[ids[org_a]] == "replayed by run replay_done"
    assert "no card for sales org 0000" in outcome[ids["0000"]]
    assert ids["pending"] not in outcome
    assert dead_letters.get_dead_letters(pg, [ids["pending"]])[0].claimed_by == "replay_running"
    with pytest.raises(dead_letters.DeadLetterError, match="being replayed"):
        dead_letters.dismiss(pg, [ids["pending"]], "no")
    # The run ended without finishing (e.g. its Airflow state is failed): the claim is released.
    outcome = dead_letters.settle(pg, run_ended=lambda run_id: run_id == "replay_running")
    assert "ended before recording its result" in outcome[ids["pending"]]
    assert dead_letters.get_dead_letters(pg, [ids["pending"]])[0].claimed_by is None


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


class not_the_standin:
    """A real HTTP server without the stand-in's admin API (as a real T2A would be)."""

    def __enter__(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
