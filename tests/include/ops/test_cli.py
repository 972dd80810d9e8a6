"""The operators' CLI (include/ops/cli.py) on real services: the card store in PostgreSQL,
Celery's queues in Redis, the T2A stand-in over HTTP and plain `airflow dags test`
subprocesses for the smoke test and a replay. The dead-letter service itself (called directly,
not through the CLI) is tested in test_dead_letters.py.

One smoke test runs for the module (it is one `airflow dags test`); each test that works on
what it left gets the card store back exactly as the smoke run left it (``after_smoke``), so
the tests run in any order and alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from include import card_store, change_events
from include.ops import cli as ops_cli
from t2a_standin import seed
from t2a_standin.data import Dataset, preset
from tests.conftest import CARD_TABLES, CardStoreSnapshot
from tests.support import ROOT

SMOKE_SUBSCRIBERS = 6
T0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
# Text as it may come from the card store or T2A: rich markup, an emoji code, a terminal escape.
HOSTILE = "[red]x[/red] :smile: \x1b[2J"
HOSTILE_SHOWN = "[red]x[/red] :smile: \\x1b[2J"
CALL_TIMEOUT = 300  # s: generous; only there so a hanging command fails instead of blocking


def cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()  # drop what the test itself logged (Airflow hooks log to stdout)
    code = ops_cli.main(list(argv))
    return code, capsys.readouterr().out


def cli_returns(capsys, *argv: str) -> tuple[int, str]:
    """cli(), failing (instead of hanging the session) if the command does not return."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(cli(capsys, *argv)), daemon=True)
    thread.start()
    thread.join(CALL_TIMEOUT)
    assert not thread.is_alive(), f"acp {' '.join(argv)} did not return within {CALL_TIMEOUT}s"
    assert result, f"acp {' '.join(argv)} raised (see the thread's traceback above)"
    return result[0]


@pytest.fixture(scope="module")
def smoke_run(standin_env):
    """One smoke test for the module on freshly seeded subscribers: (exit code, output, a
    snapshot of the card store as the run left it)."""
    pg = card_store.hook()
    pg.run(f"TRUNCATE {', '.join(CARD_TABLES)} RESTART IDENTITY")
    seed.seed(pg, Dataset(preset("small")), SMOKE_SUBSCRIBERS)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = ops_cli.main(["smoke", "--subscribers", str(SMOKE_SUBSCRIBERS), "--batch-size", "3"])
    return code, out.getvalue(), CardStoreSnapshot(pg, "ops_smoke")


@pytest.fixture
def after_smoke(smoke_run):
    """The card store exactly as the module's smoke run left it, whatever tests before this
    one did to it: (smoke exit code, smoke output)."""
    code, out, snapshot = smoke_run
    snapshot.restore()
    return code, out


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


def test_smoke_runs_the_dag_once_and_passes(after_smoke):
    code, out = after_smoke
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


def test_status_reports_runs_dead_letters_queues_and_workers(capsys, after_smoke, ops_broker, dead_letter):
    pg = card_store.hook()
    dead_letter(
        pg,
        run_id="r_status",
        stage="fetch",
        item_key="9999",
        payload={"sales_org_cd": "9999"},
        error="HTTP 503",
        attempts=4,
    )
    ops_broker.clear()
    broker = ops_broker.client()
    broker.lpush("sales_org", "m1", "m2")
    broker.lpush("adaptive_card\x06\x163", "m3")  # a priority-3 message: Celery's own key for it
    try:
        code, out = cli_returns(capsys, "status", "--json")  # nobody answers the ping: no hang
    finally:
        ops_broker.clear()
    report = json.loads(out)
    assert code == 0
    latest = report["runs"][0]
    expected = pg.get_first("SELECT run_id, cards_written FROM pipeline_run ORDER BY started_at DESC LIMIT 1")
    assert (latest["run_id"], latest["cards_written"]) == expected
    assert report["open_dead_letters"] == {"fetch": 1}
    assert report["queues"] == {"default": 0, "sales_org": 2, "adaptive_card": 1}
    assert report["workers"] == []  # nobody answers on this broker


def test_status_survives_an_unreachable_broker_and_redis(capsys, standin_env, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://:secret@127.0.0.1:1/0")
    monkeypatch.setenv(
        "AIRFLOW_CONN_REDIS_DEFAULT",
        json.dumps({"conn_type": "redis", "host": "127.0.0.1", "port": 1, "password": "s3"}),
    )
    code, out = cli(capsys, "status", "--json")
    report = json.loads(out)
    assert code == 0 and "unreachable" in report["queues"]["error"] and "secret" not in out
    assert "unreachable" in report["stream"]["error"] and "redis_default" in report["stream"]["error"]
    assert "s3" not in out
    code, out = cli(capsys, "status")
    assert code == 0 and "change stream adaptive_card_updates: Redis (connection redis_default) unreachable" in out


@pytest.fixture
def change_stream(redis_db):
    """The change stream in this session's change-event Redis database, emptied around the test."""
    redis_db.delete(change_events.STREAM)
    yield redis_db
    redis_db.delete(change_events.STREAM)


def _store_events(pg, run_id: str, users: tuple[str, ...], *, hours_old: float, published: bool) -> None:
    rows = [
        card_store.results.CardRow(u, "daily_brief", "5503", '{"overview": {}}', '{"overview": {}}', f"h-{run_id}")
        for u in users
    ]
    card_store.results.store_cards(pg, rows, run_id=run_id, interval_end=T0)
    pg.run(
        "UPDATE card_change_outbox SET created_at = now() - make_interval(hours => %(h)s),"
        " published_at = CASE WHEN %(published)s THEN now() END WHERE run_id = %(run_id)s",
        parameters={"h": hours_old, "published": published, "run_id": run_id},
    )


def test_status_shows_the_change_outbox_and_the_stream(capsys, standin_env, pg, change_stream, monkeypatch):
    """Events waiting in the outbox (how many, how old) and the stream's length against its
    MAXLEN with each consumer group's lag: a consumer falling behind shows before it loses events."""
    monkeypatch.delenv("OUTBOX_RETENTION_HOURS", raising=False)
    _store_events(pg, "r_sent", ("u1", "u2"), hours_old=30, published=True)
    _store_events(pg, "r_waiting", ("u3", "u4", "u5"), hours_old=2, published=False)
    for n in range(9):
        change_stream.xadd(change_events.STREAM, {"event_id": f"e{n}"})
    change_stream.xgroup_create(change_events.STREAM, "teams-bot", id="0")
    monkeypatch.setattr(change_events, "STREAM_MAXLEN", 10)

    code, out = cli(capsys, "status", "--json")
    report = json.loads(out)
    assert code == 0
    outbox = report["outbox"]
    assert (outbox["unpublished"], outbox["published_kept"], outbox["retention_hours"]) == (3, 2, 168.0)
    assert 7200 <= outbox["oldest_unpublished_age_seconds"] < 7200 + 60
    assert datetime.fromisoformat(outbox["oldest_unpublished_at"]) < datetime.now(UTC)
    assert report["stream"] == {
        "name": "adaptive_card_updates",
        "length": 9,
        "maxlen": 10,
        "groups": [{"name": "teams-bot", "consumers": 0, "pending": 0, "lag": 9}],
    }

    code, out = cli(capsys, "status")
    assert code == 0
    assert "change outbox: 3 unpublished, the oldest 2 h 00 min old; 2 published kept (168 h)" in out
    assert "change stream adaptive_card_updates: 9 entries (MAXLEN ~10) — near MAXLEN" in out
    assert "group teams-bot: lag 9, pending 0" in out

    pg.run("UPDATE card_change_outbox SET published_at = now()")
    change_stream.delete(change_events.STREAM)
    code, out = cli(capsys, "status")
    assert "change outbox: nothing waiting; 5 published kept (168 h)" in out
    assert "change stream adaptive_card_updates: 0 entries (MAXLEN ~10); no consumer group" in out
    assert json.loads(cli(capsys, "status", "--json")[1])["outbox"]["oldest_unpublished_at"] is None


def test_cards_shows_the_stored_cards_and_renders_the_other_locale(capsys, after_smoke):
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
    code, out = cli(capsys, "cards", user_id, "--page", "overview", "--locale", other, "--json")
    card = json.loads(out)  # the card alone, as the bot sends it
    assert code == 0 and card["type"] == "AdaptiveCard" and card != cards["overview"]
    assert card["lang"] == other[:2]
    code, out = cli(capsys, "cards", user_id, "--page", "overview", "--locale", other)
    assert code == 0 and f"locale {other} (rendered now)" in out and _first_text(card) in out

    code, out = cli(capsys, "cards", "nobody")
    assert code == 1 and "nobody" in out
    code, out = cli(capsys, "cards", user_id, "--page", "nosuchpage")
    assert code == 1 and "nosuchpage" in out and "overview" in out


PAGE_KINDS = (
    "overview",
    "accounts",
    "product_groups",
    "operations",
    "account_detail",
    "product_group_detail",
    "model_detail",
)


def _page_place(page_id: str) -> tuple[int, int]:
    """daily_brief's page order (docs/contracts/daily-brief.md): the four list pages, then the
    detail pages kind by kind, each kind by number."""
    numbered = re.fullmatch(r"(.+?)_(\d+)", page_id)
    kind, n = (numbered.group(1), int(numbered.group(2))) if numbered else (page_id, 0)
    return PAGE_KINDS.index(kind), n


def test_page_lists_run_a_kinds_numbers_together():
    pages = ["accounts", "operations", "account_detail_1", "account_detail_2", "account_detail_3"]
    pages += ["product_group_detail_2", "model_detail_1", "model_detail_3", "model_detail_4", "top_10"]
    assert ops_cli.page_ranges(pages) == (
        "accounts, operations, account_detail_1–3, product_group_detail_2, model_detail_1, model_detail_3–4, top_10"
    )
    assert ops_cli.page_ranges([]) == ""


def _first_text(card: dict) -> str:
    return next(element["text"] for element in card["body"] if element.get("type") == "TextBlock")


def _boxes(out: str) -> list[str]:
    """The titles of the card boxes printed, in order."""
    return re.findall(r"╭─ (\S+ / \S+) ─", out)


def test_cards_shows_the_overview_as_it_reads_and_names_the_other_pages(capsys, after_smoke):
    pg = card_store.hook()
    user_id, locale, cards = pg.get_first(
        "SELECT r.user_id, s.locale, r.cards FROM user_scenario_result r"
        " JOIN card_subscriber s USING (user_id) ORDER BY user_id LIMIT 1"
    )
    order = list(json.loads(cli(capsys, "cards", user_id, "--json")[1])["results"][0]["cards"])
    assert order == sorted(cards, key=_page_place)  # not jsonb's key order
    code, out = cli(capsys, "cards", user_id)
    assert code == 0 and _boxes(out) == ["daily_brief / overview"]
    assert f"locale {locale}," not in out and f"locale {locale}" in out and "(rendered now)" not in out
    assert _first_text(cards["overview"]) in out
    erp = next(a for a in cards["overview"]["actions"] if a["type"] == "Action.OpenUrl")
    assert f"[{erp['title']}] → {erp['url']}" in out
    assert f"other pages: {ops_cli.page_ranges(order[1:])} (acp cards {user_id} --page <page>;" in out
    assert not out.lstrip().startswith("{")  # a rendering, not JSON

    code, out = cli(capsys, "cards", user_id, "--page", "accounts")
    assert code == 0 and _boxes(out) == ["daily_brief / accounts"] and _first_text(cards["accounts"]) in out
    code, out = cli(capsys, "cards", user_id, "--all-pages")
    assert code == 0 and _boxes(out) == [f"daily_brief / {page}" for page in order] and "other pages" not in out
    code, out = cli(capsys, "cards", user_id, "--page", "accounts", "--all-pages")
    assert code == 1 and "not both" in out


def test_text_from_the_store_is_printed_literally_by_every_command(capsys, standin_env, pg, dead_letter, monkeypatch):
    """Names, codes, errors and run ids are data: never rich markup, emoji codes or escapes."""
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://127.0.0.1:1/0")  # status: no broker wait
    pg.run(
        "INSERT INTO card_subscriber (user_id, display_name, locale, sales_org_cd, accounts)"
        " VALUES ('u_markup', %s, 'en-US', '5503', %s)",
        parameters=(HOSTILE, [HOSTILE]),
    )
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": f"account {HOSTILE}"}]}
    row = card_store.results.CardRow(
        "u_markup", "daily_brief", "5503", json.dumps({"overview": {}}), json.dumps({"overview": card}), "h"
    )
    card_store.results.store_cards(pg, [row], run_id=f"run {HOSTILE}", interval_end=T0)
    card_store.runs.start_run(pg, run_id=f"run {HOSTILE}", interval_end=T0)
    dead_letter(pg, run_id="r1", stage="fetch", item_key="[b]5503[/b]", payload={}, error=f"HTTP 503 {HOSTILE}")

    code, out = cli(capsys, "cards", "u_markup")
    assert code == 0 and f"u_markup {HOSTILE_SHOWN} (en-US)" in out and f"account {HOSTILE_SHOWN}" in out
    assert f"run run {HOSTILE_SHOWN}," in out and "\x1b" not in out
    code, out = cli(capsys, "dead-letters", "list")
    assert code == 0 and "[b]5503[/b]" in out and f"HTTP 503 {HOSTILE_SHOWN}" in out and "\x1b" not in out
    code, out = cli(capsys, "status")
    assert code == 0 and f"run {HOSTILE_SHOWN}" in out and "\x1b" not in out
    code, out = cli(capsys, "dead-letters", "dismiss", "987654", "--reason", "x")
    assert code == 1 and out.startswith("error: ")


def test_dismiss_keeps_the_reason_and_refuses_closed_rows(capsys, standin_env, pg, dead_letter):
    dl_id = dead_letter(
        pg,
        run_id="r_dismiss",
        stage="scenario",
        item_key="u99999:daily_brief",
        payload={"user_id": "u99999", "scenario_id": "daily_brief"},
    )
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


def test_replay_by_dags_test_resolves_only_what_the_run_served(capsys, after_smoke, dead_letter):
    """One real replay run for two users: one is served again (resolved), one was deactivated
    meanwhile (no card: stays open, with the reason)."""
    pg = card_store.hook()
    served, gone = [row[0] for row in pg.get_records("SELECT user_id FROM card_subscriber ORDER BY user_id LIMIT 2")]
    pg.run("UPDATE card_subscriber SET active = false WHERE user_id = %s", parameters=(gone,))
    ids = [
        dead_letter(
            pg,
            run_id="r_replay",
            stage="scenario",
            item_key=f"{user}:daily_brief",
            payload={"user_id": user, "scenario_id": "daily_brief"},
            error="x",
        )
        for user in (served, gone)
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
