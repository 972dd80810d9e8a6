"""acp — the operators' command line: what the pipeline did, a user's cards, dead letters and
a smoke test. One entry point (``python -m include.ops.cli`` or ``scripts/acp``), one
subcommand per job, ``--help`` on each.

It reads the card store (connection ``card_store``), the Celery broker, the change stream
(connection ``redis_default``) and the Airflow configuration of the environment it runs in
(``. scripts/env.sh`` locally).

Whatever comes from the card store, T2A, Redis or Airflow is printed as plain text, never as
rich markup (``[red]x[/red]`` in a dead letter's error prints as it is): the console has
markup and emoji codes off, and styled parts are built as ``Text`` (``card_text.plain``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from include import card_store, change_events
from include.cards import CARD_VERSION
from include.config import SUPPORTED_LOCALES, settings
from include.ops import card_reads, dead_letters
from include.ops.card_text import plain, render_card
from include.ops.run_starters import AirflowApi, RunStartError, dags_test, starter_from_env
from include.t2a_client import T2AClient, T2AError

QUEUES = ("default", "sales_org", "adaptive_card")
# Celery's Redis transport keeps each priority level of a queue in its own list.
_PRIORITY_SEP = "\x06\x16"
PING_TIMEOUT = 1.0
REDIS_TIMEOUT = 3.0
# A stream this full is trimmed on the next writes: a consumer this far behind loses events.
STREAM_NEAR_FULL = 0.9
_NUMBERED = re.compile(r"(.+?)_(\d+)")  # a kind's numbered page: account_detail_3
CARD_WIDTH = 100  # columns at most for a card (Teams shows them about 400 px wide)
ROOT = Path(__file__).resolve().parents[2]

# Piped output keeps whole rows (rich would wrap at 80 columns). No markup, no emoji codes:
# text from the card store or T2A is printed as it is (styled parts are Text objects).
console = Console(highlight=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else 200)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of literal parts, each a string or (string, style)."""
    return Text.assemble(*(plain(p) if isinstance(p, str) else plain(*p) for p in parts))


class OpsError(Exception):
    """A command that cannot do its job; printed without a traceback, exit status 1."""


# --- status -------------------------------------------------------------------------------------


def open_dead_letters_by_stage(pg) -> dict[str, int]:
    with card_store.transaction(pg) as cur:
        cur.execute(
            "SELECT stage, count(*) FROM pipeline_dead_letter WHERE resolved_at IS NULL GROUP BY stage ORDER BY stage"
        )
        return dict(cur.fetchall())


def broker_url() -> str:
    from airflow.configuration import conf

    return conf.get("celery", "broker_url")


def queue_depths(url: str) -> dict[str, int]:
    """Messages waiting per Celery queue (every priority level) on the Redis broker."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    depths = {}
    for queue in QUEUES:
        keys = [queue, *(k.decode() for k in client.scan_iter(match=f"{queue}{_PRIORITY_SEP}*"))]
        depths[queue] = sum(client.llen(key) for key in keys)
    return depths


def workers_online(timeout: float = PING_TIMEOUT) -> list[str]:
    """Celery workers answering a ping within ``timeout`` seconds (none running: an empty list)."""
    from airflow.providers.celery.executors.celery_executor_utils import app

    replies = app.control.ping(timeout=timeout) or []
    return sorted(name for reply in replies for name in reply)


def outbox_state(pg) -> dict[str, Any]:
    """The change outbox: events waiting to be published (how many, the oldest) and the
    published ones still kept (pruned after OUTBOX_RETENTION_HOURS)."""
    with card_store.transaction(pg) as cur:
        cur.execute(
            "SELECT count(*) FILTER (WHERE published_at IS NULL),"
            " min(created_at) FILTER (WHERE published_at IS NULL),"
            " extract(epoch FROM now() - min(created_at) FILTER (WHERE published_at IS NULL)),"
            " count(*) FILTER (WHERE published_at IS NOT NULL)"
            " FROM card_change_outbox"
        )
        unpublished, oldest, age, kept = cur.fetchone()
    return {
        "unpublished": unpublished,
        "oldest_unpublished_at": oldest,
        "oldest_unpublished_age_seconds": None if age is None else round(float(age), 1),
        "published_kept": kept,
        "retention_hours": settings().outbox_retention_hours,
    }


def stream_state(redis_conn_id: str) -> dict[str, Any]:
    """The change stream's length against its MAXLEN and its consumer groups' lag (Redis 7)."""
    from airflow.providers.redis.hooks.redis import RedisHook

    client = RedisHook(redis_conn_id=redis_conn_id).get_conn()
    # RedisHook sets no timeouts: an unreachable Redis must not hang `acp status`.
    client.connection_pool.connection_kwargs.update(socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
    state: dict[str, Any] = {
        "name": change_events.STREAM,
        "length": client.xlen(change_events.STREAM),
        "maxlen": change_events.STREAM_MAXLEN,
        "groups": [],
    }
    if client.exists(change_events.STREAM):
        state["groups"] = [
            {
                "name": _text(group.get("name")),
                "consumers": group.get("consumers"),
                "pending": group.get("pending"),
                "lag": group.get("lag"),
            }
            for group in client.xinfo_groups(change_events.STREAM)
        ]
    return state


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def status_report(pg, runs: int) -> dict[str, Any]:
    report: dict[str, Any] = {
        "runs": card_store.runs.recent_runs(pg, runs),
        "open_dead_letters": open_dead_letters_by_stage(pg),
        "outbox": outbox_state(pg),
    }
    redis_conn_id = settings().redis_conn_id
    try:
        report["stream"] = stream_state(redis_conn_id)
    except Exception as exc:  # Redis down is a finding to report, not a crash
        report["stream"] = {
            "name": change_events.STREAM,
            "error": f"Redis (connection {redis_conn_id}) unreachable: {exc}",
        }
    url = broker_url()
    try:
        report["queues"] = queue_depths(url)
    except Exception as exc:  # broker down is a finding to report, not a crash
        report["queues"] = {"error": f"broker {_redact(url)} unreachable: {exc}"}
    if "error" in report["queues"]:
        report["workers"] = {"error": "not asked: the broker is unreachable"}
    else:
        report["workers"] = workers_online()
    return report


def _redact(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (
        parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()
        if parts.password
        else url
    )


def _age(seconds: float) -> str:
    """3 s, 12 min, 2 h 05 min, 3 d 4 h."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def outbox_line(outbox: dict[str, Any]) -> Text:
    kept = f"{outbox['published_kept']:,} published kept ({outbox['retention_hours']:g} h)"
    if not outbox["unpublished"]:
        return styled("change outbox: nothing waiting; ", kept)
    return styled(
        "change outbox: ",
        (f"{outbox['unpublished']:,} unpublished", "bold yellow"),
        f", the oldest {_age(outbox['oldest_unpublished_age_seconds'])} old; ",
        kept,
    )


def stream_line(stream: dict[str, Any]) -> Text:
    if "error" in stream:
        return styled(f"change stream {stream['name']}: ", (stream["error"], "red"))
    entries = f"{stream['length']:,} entr{'y' if stream['length'] == 1 else 'ies'}"
    line = styled(f"change stream {stream['name']}: {entries} (MAXLEN ~{stream['maxlen']:,})")
    if stream["length"] >= STREAM_NEAR_FULL * stream["maxlen"]:
        line.append_text(
            plain(" — near MAXLEN: entries are being trimmed; a consumer this far behind loses events", "bold red")
        )
    for group in stream["groups"]:
        line.append_text(plain(f"; group {group['name']}: lag {group['lag']}, pending {group['pending']}"))
    if not stream["groups"]:
        line.append_text(plain("; no consumer group"))
    return line


def cmd_status(args: argparse.Namespace) -> int:
    report = status_report(card_store.hook(), args.runs)
    if args.json:
        print(json.dumps(card_reads.jsonable(report), ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"last {args.runs} pipeline runs")
    for column in (
        "run_id",
        "status",
        "as of",
        "took",
        "orgs ok/failed/fallback",
        "served",
        "written",
        "unchanged",
        "dead letters",
    ):
        table.add_column(column)
    for run in report["runs"]:
        took = f"{(run['finished_at'] - run['started_at']).total_seconds():.0f}s" if run["finished_at"] else "running"
        table.add_row(
            *map(
                plain,
                (
                    run["run_id"],
                    run["status"],
                    f"{run['data_interval_end']:%Y-%m-%d %H:%M}",
                    took,
                    f"{run['orgs_fetched']}/{run['orgs_failed']}/{run['orgs_fallback']}",
                    run["subscribers_served"],
                    run["cards_written"],
                    run["cards_unchanged"],
                    run["dead_letters"],
                ),
            )
        )
    console.print(table if report["runs"] else plain("no pipeline run recorded yet"))
    letters = report["open_dead_letters"]
    console.print(plain("open dead letters: " + (", ".join(f"{s} {n}" for s, n in letters.items()) or "none")))
    console.print(outbox_line(report["outbox"]))
    console.print(stream_line(report["stream"]))
    queues = report["queues"]
    console.print(
        plain(
            "celery queues: "
            + (queues["error"] if "error" in queues else ", ".join(f"{q} {n} waiting" for q, n in queues.items()))
        )
    )
    workers = report["workers"]
    console.print(
        plain("workers online: " + (workers["error"] if isinstance(workers, dict) else ", ".join(workers) or "none"))
    )
    return 0


# --- cards --------------------------------------------------------------------------------------


def cmd_cards(args: argparse.Namespace) -> int:
    """A user's stored cards as they read (rendered for the terminal), or as JSON.

    Without --page: the overview of each scenario and the list of its other pages; --page P:
    that page's card; --all-pages: every page, in the scenario's order. --json: everything
    stored (with --page: that card's JSON alone, what the bot sends to Teams).
    """
    if args.page and args.all_pages:
        raise OpsError("give --page or --all-pages, not both")
    try:
        view = card_reads.user_cards(card_store.hook(), args.user_id)
    except card_reads.NotFound as exc:
        raise OpsError(str(exc)) from None
    subscriber = view["subscriber"]
    results = [r for r in view["results"] if args.scenario in (None, r["scenario_id"])]
    locale = args.locale or (subscriber["locale"] if subscriber else None)
    if args.locale and not results:
        raise OpsError(f"user {args.user_id} has no stored cards to render in {args.locale}")
    for result in results:
        try:
            result["cards"] = card_reads.cards_in_locale(
                args.user_id, result, locale, subscriber and subscriber["locale"], erp_base_url=settings().erp_base_url
            )
        except ValueError as exc:
            raise OpsError(str(exc)) from None
        if args.page and args.page not in result["cards"]:
            raise OpsError(
                f"user {args.user_id} scenario {result['scenario_id']} has no page {args.page!r};"
                f" pages: {', '.join(result['cards'])}"
            )
    if args.json:
        return _print_cards_json(args, view, results)
    if subscriber:
        console.print(
            styled(
                (f"{subscriber['user_id']} {subscriber['display_name']}", "bold"),
                f" ({subscriber['locale']}), sales org {subscriber['sales_org_cd']}",
                ("" if subscriber["active"] else ", INACTIVE", "bold red"),
            )
        )
    else:
        console.print(plain(f"{args.user_id}: no longer a subscriber; stored cards follow"))
    if not results:
        console.print(plain("no stored cards"))
    width = min(console.width, CARD_WIDTH)
    for r in results:
        console.print(
            styled(
                (r["scenario_id"], "bold"),
                f": sales org {r['sales_org_cd']}, run {r['run_id']},"
                f" data as of {r['data_interval_end']:%Y-%m-%d %H:%M %Z}, updated {r['updated_at']:%Y-%m-%d %H:%M},"
                f" locale {locale}{'' if locale == (subscriber or {}).get('locale') else ' (rendered now)'}",
            )
        )
        shown = _pages_to_show(args, r["cards"])
        for page_id in shown:
            console.print(render_card(r["cards"][page_id], title=f"{r['scenario_id']} / {page_id}", width=width))
        others = [page_id for page_id in r["cards"] if page_id not in shown]
        if others:
            console.print(
                plain(
                    f"other pages: {page_ranges(others)} (acp cards {args.user_id} --page <page>;"
                    " --all-pages for every one; --json for the card JSON)",
                    "dim",
                )
            )
    return 0


def page_ranges(page_ids: list[str]) -> str:
    """Page ids with a kind's consecutive numbers run together: ``model_detail_1–8``."""
    parts: list[list] = []  # [kind, first, last] of a numbered run, or [page_id]
    for page_id in page_ids:
        numbered = _NUMBERED.fullmatch(page_id)
        if numbered:
            kind, n = numbered.group(1), int(numbered.group(2))
            if parts and len(parts[-1]) == 3 and parts[-1][0] == kind and parts[-1][2] == n - 1:
                parts[-1][2] = n
                continue
            parts.append([kind, n, n])
        else:
            parts.append([page_id])
    return ", ".join(
        part[0] if len(part) == 1 else f"{part[0]}_{part[1]}" + (f"–{part[2]}" if part[2] > part[1] else "")
        for part in parts
    )


def _pages_to_show(args: argparse.Namespace, cards: dict[str, Any]) -> list[str]:
    if args.all_pages:
        return list(cards)
    if args.page:
        return [args.page]
    return ["overview"] if "overview" in cards else list(cards)[:1]


def _print_cards_json(args: argparse.Namespace, view: dict[str, Any], results: list[dict]) -> int:
    if not args.page:
        print(json.dumps(card_reads.jsonable({**view, "results": results}), ensure_ascii=False, indent=2))
        return 0
    if len(results) > 1:
        scenarios = ", ".join(r["scenario_id"] for r in results)
        raise OpsError(f"page {args.page!r} is in scenarios {scenarios}: pick one with --scenario")
    if not results:
        raise OpsError(f"user {args.user_id} has no stored cards")
    print(json.dumps(results[0]["cards"][args.page], ensure_ascii=False, indent=2))
    return 0


# --- dead letters -------------------------------------------------------------------------------


def cmd_dl_list(args: argparse.Namespace) -> int:
    letters = dead_letters.list_dead_letters(
        card_store.hook(), include_resolved=args.all, stage=args.stage, run_id=args.run_id, limit=args.limit
    )
    if args.json:
        print(json.dumps(card_reads.jsonable([dead_letters.as_dict(d) for d in letters]), ensure_ascii=False, indent=2))
        return 0
    if not letters:
        console.print(plain("no dead letters" if args.all else "no open dead letters"))
        return 0
    table = Table()
    for column in ("id", "failed at", "run", "stage", "item", "attempts", "error", "state"):
        table.add_column(column, overflow="fold")
    for d in letters:
        state = f"resolved: {d.resolution}" if d.resolved_at else (d.resolution or "open")
        table.add_row(
            *map(plain, (d.id, f"{d.failed_at:%Y-%m-%d %H:%M}", d.run_id, d.stage, d.item_key, d.attempts)),
            plain(d.error[:160]),
            plain(state),
        )
    console.print(table)
    return 0


def _selected_ids(args: argparse.Namespace, pg) -> list[int]:
    if args.ids and args.all_open:
        raise OpsError("give dead-letter ids or --all-open, not both")
    if args.all_open:
        ids = [d.id for d in dead_letters.list_dead_letters(pg, stage=args.stage, limit=1_000_000) if not d.claimed_by]
        if not ids:
            raise OpsError("no open, unclaimed dead letters" + (f" in stage {args.stage}" if args.stage else ""))
        return ids
    if not args.ids:
        raise OpsError("name the dead letters (ids from `acp dead-letters list`) or use --all-open")
    return args.ids


def cmd_dl_replay(args: argparse.Namespace) -> int:
    pg = card_store.hook()
    starter = starter_from_env(_log_dir())
    ids = _selected_ids(args, pg)
    via = "the Airflow REST API" if isinstance(starter, AirflowApi) else "airflow dags test"
    console.print(plain(f"replaying {len(ids)} dead letter(s) via {via}"))
    with _spinner() as progress:
        task = progress.add_task("starting runs", total=None)
        replays = dead_letters.replay(pg, ids, starter)
        for r in replays:
            console.print(
                plain(f"run {r.run_id}: conf {json.dumps(r.conf, ensure_ascii=False)} for dead letter(s) {r.ids}")
            )
            if isinstance(starter, AirflowApi) and not args.no_wait:
                progress.update(task, description=f"waiting for {r.run_id}")
                starter.wait(
                    r.run_id,
                    args.timeout,
                    on_poll=lambda state, run_id=r.run_id: progress.update(task, description=f"{run_id}: {state}"),
                )
    if args.no_wait and isinstance(starter, AirflowApi):
        console.print(plain("not waiting: run `acp dead-letters settle` once the runs have finished"))
        return 0
    return _print_settled(dead_letters.settle(pg, starter.run_ended))


def cmd_dl_settle(args: argparse.Namespace) -> int:
    api = AirflowApi.from_env()
    outcome = dead_letters.settle(card_store.hook(), api.run_ended if api else (lambda run_id: False))
    if not outcome:
        console.print(plain("nothing to settle: no replay has finished since the last check"))
    return _print_settled(outcome)


def _print_settled(outcome: dict[int, str]) -> int:
    for dl_id, resolution in sorted(outcome.items()):
        console.print(plain(f"dead letter {dl_id}: {resolution}"))
    pending = [i for i, r in outcome.items() if not r.startswith("replayed by run")]
    return 1 if pending else 0


def cmd_dl_dismiss(args: argparse.Namespace) -> int:
    done = dead_letters.dismiss(card_store.hook(), args.ids, args.reason)
    console.print(plain(f"dismissed {len(done)} dead letter(s): {done}"))
    return 0


# --- smoke test -----------------------------------------------------------------------------


def active_user_ids(pg, limit: int) -> list[str]:
    with card_store.transaction(pg) as cur:
        cur.execute("SELECT user_id FROM card_subscriber WHERE active ORDER BY user_id LIMIT %s", (limit,))
        return [row[0] for row in cur.fetchall()]


def cmd_smoke(args: argparse.Namespace) -> int:
    """migrate → T2A answers → one `airflow dags test` for a few subscribers → each has fresh, valid cards."""
    pg = card_store.hook()
    users = args.user or active_user_ids(pg, args.subscribers)
    if not users:
        raise OpsError("card_subscriber has no active subscriber to run the smoke test for")
    logical = datetime.now(UTC)
    with _bar() as progress:
        steps = progress.add_task("migrating the card store", total=3)
        card_store.schema.migrate(pg)
        progress.update(steps, advance=1, description="asking T2A for its sales organizations")
        try:
            orgs = T2AClient.from_settings().list_sales_orgs()
        except T2AError as exc:
            raise OpsError(f"T2A does not answer: {exc}") from None
        progress.update(steps, advance=1, description=f"airflow dags test for {len(users)} subscriber(s)")
        log_path = _log_dir() / f"smoke-{logical:%Y%m%dT%H%M%S}.log"
        returncode = dags_test(
            logical.isoformat(), {"user_ids": users, "batch_size": args.batch_size}, log_path, args.timeout
        )
        progress.update(steps, advance=1)
    failures = smoke_failures(pg, logical, users, returncode, log_path)
    if failures:
        console.print(plain("FAIL", "bold red"))
        for failure in failures:
            console.print(plain(f"  - {failure}"))
        return 1
    console.print(
        styled(
            ("PASS", "bold green"),
            f": T2A lists {len(orgs)} sales orgs; run at {logical:%Y-%m-%d %H:%M}"
            f" stored valid cards for {', '.join(users)}",
        )
    )
    return 0


def smoke_failures(pg, logical: datetime, users: list[str], returncode: int, log_path: Path) -> list[str]:
    """What is wrong with the smoke run (nothing: an empty list)."""
    failures = [f"airflow dags test exited {returncode} (log {log_path})"] if returncode else []
    run = card_store.runs.latest_run(pg, logical)
    if run is None:
        return [*failures, f"no pipeline_run row for the run at {logical.isoformat()} (log {log_path})"]
    if run["status"] != "success":
        failures.append(f"run {run['run_id']} status is {run['status']} with {run['dead_letters']} dead letter(s)")
    with card_store.transaction(pg) as cur:
        cur.execute(
            "SELECT user_id, cards FROM user_scenario_result WHERE user_id = ANY(%s) AND data_interval_end = %s",
            (users, logical),
        )
        stored = cur.fetchall()
    missing = sorted(set(users) - {user for user, _ in stored})
    if missing:
        failures.append(f"run {run['run_id']} stored no cards for {', '.join(missing)}")
    for user, cards in stored:
        if not cards or not all(
            c.get("type") == "AdaptiveCard" and c.get("version") == CARD_VERSION for c in cards.values()
        ):
            failures.append(f"user {user}: a stored card is not an Adaptive Card {CARD_VERSION}")
    return failures


# --- plumbing -------------------------------------------------------------------------------


def _log_dir() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow")) / "logs" / "acp"


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _spinner() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("status", help="last runs with their counts, open dead letters, Celery queues, workers")
    p.add_argument("--runs", type=int, default=5, help="how many recent runs (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "cards",
        help="a user's current stored cards, as they read",
        description="Shows a user's stored cards as they read in Teams, rendered for the terminal:"
        " the overview and the list of the other pages by default, one page with --page,"
        " every page with --all-pages. --json prints the cards' JSON instead.",
    )
    p.add_argument("user_id")
    p.add_argument("--scenario", help="only this scenario (default: all)")
    p.add_argument("--page", help="this page's card (default: the overview)")
    p.add_argument("--all-pages", action="store_true", help="every page's card, one after another")
    p.add_argument(
        "--locale",
        choices=SUPPORTED_LOCALES,
        help="render in this locale instead of the stored one (the subscriber's)",
    )
    p.add_argument(
        "--json", action="store_true", help="everything stored, as JSON (with --page: that card's JSON alone)"
    )
    p.set_defaults(func=cmd_cards)

    dl = sub.add_parser("dead-letters", help="list, replay, settle or dismiss dead letters")
    dls = dl.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = dls.add_parser("list", help="open dead letters, newest first")
    p.add_argument("--all", action="store_true", help="include resolved ones")
    p.add_argument("--stage", choices=[*dead_letters.ORG_STAGES, *dead_letters.USER_STAGES])
    p.add_argument("--run-id")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dl_list)
    p = dls.add_parser(
        "replay",
        help="re-run the DAG for exactly these items and resolve what succeeded",
        description="Starts one run for failed sales orgs and one for failed users, via the"
        " Airflow REST API when AIRFLOW_API_URL is set (AIRFLOW_API_USERNAME,"
        " AIRFLOW_API_PASSWORD), else `airflow dags test`. A row is resolved only"
        " when that run stored the item's cards without failing it again.",
    )
    p.add_argument("ids", nargs="*", type=int, help="dead-letter ids")
    p.add_argument("--all-open", action="store_true", help="every open, unclaimed dead letter")
    p.add_argument(
        "--stage",
        choices=[*dead_letters.ORG_STAGES, *dead_letters.USER_STAGES],
        help="with --all-open: only this stage",
    )
    p.add_argument("--no-wait", action="store_true", help="REST API only: start the runs and return")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each run (default 1800)")
    p.set_defaults(func=cmd_dl_replay)
    p = dls.add_parser("settle", help="resolve or release rows whose replay run has finished")
    p.set_defaults(func=cmd_dl_settle)
    p = dls.add_parser("dismiss", help="close dead letters without replaying them")
    p.add_argument("ids", nargs="+", type=int)
    p.add_argument("--reason", required=True, help="kept in the row: 'dismissed: <reason>'")
    p.set_defaults(func=cmd_dl_dismiss)

    p = sub.add_parser(
        "smoke",
        help="migrate, ask T2A, run the DAG once for a few subscribers, check their cards: PASS/FAIL",
        description="Runs `airflow dags test` for the first --subscribers active subscribers (or --user ...)"
        " and checks that each got fresh Adaptive Cards. Writes only what a scheduled run would write.",
    )
    p.add_argument("--subscribers", type=int, default=12, help="how many active subscribers (default 12)")
    p.add_argument("--user", action="append", help="this subscriber (repeatable) instead of the first N")
    p.add_argument("--batch-size", type=int, default=5)
    p.add_argument("--timeout", type=float, default=600, help="seconds for airflow dags test")
    p.set_defaults(func=cmd_smoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (OpsError, dead_letters.DeadLetterError, RunStartError) as exc:
        console.print(styled(("error:", "bold red"), f" {exc}"))
        return 1


if __name__ == "__main__":
    sys.exit(main())
