"""The pipeline's task bodies: one function per DAG task, plain arguments in, small dicts out.

The DAG file only wires these together. Everything heavy travels through the run's staging
area; XCom carries references and counts. Items that fail for a reason retrying cannot fix
(a T2A error after the client's retries, a bad subscriber, an invalid card) become dead
letters and the run goes on; anything else raises and is retried by Airflow.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
import uuid
from datetime import datetime, timedelta

import orjson
from airflow.sdk.exceptions import AirflowFailException

from include import card_store, change_events, merge, scenarios, staging, subscribers
from include.cards import CardError, render_cards, renderer_fingerprint
from include.config import settings
from include.t2a_client import ReportingPeriod, SalesOrg, T2AClient, T2AError, org_query_params, reporting_period

log = logging.getLogger(__name__)

RUN_TIMEOUT = timedelta(hours=2)  # the DAG's dagrun_timeout: one run must end before the next
PRUNE_GRACE = timedelta(minutes=10)  # clock differences between hosts
CANDIDATES_FILE = "candidates.json"  # active subscribers as read
SUBSCRIBERS_FILE = "subscribers.json"  # the servable ones


def canonical_json(value) -> str:
    """Sorted keys, no whitespace, non-ASCII as is: equal content gives equal text and hash.
    orjson, not json: cards are serialized at ~10x the speed for the same bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def migrate_schema() -> list[str]:
    return card_store.schema.migrate(card_store.hook())


def plan_run(*, run_id: str, interval_end: datetime, params: dict) -> dict:
    """Open the run: record it, withdraw the cards of readers no longer subscribed (every run
    does, whatever its params), pick this attempt's staging area, read the subscribers."""
    pg = card_store.hook()
    card_store.runs.start_run(pg, run_id=run_id, interval_end=interval_end, abandon_after=RUN_TIMEOUT)
    withdrawn = card_store.results.withdraw_unsubscribed(pg, run_id=run_id)
    active = subscribers.load_active(pg, sales_orgs=params.get("sales_orgs"), user_ids=params.get("user_ids"))
    plan_id = uuid.uuid4().hex[:12]
    area = staging.open_area(run_id, plan_id)
    (area / CANDIDATES_FILE).write_text(json.dumps([s.as_dict() for s in active]))
    log.info(
        "run %s plan %s: %d active subscribers (params %s), %d card rows withdrawn, staging %s",
        run_id,
        plan_id,
        len(active),
        {k: v for k, v in params.items() if v},
        len(withdrawn),
        area,
    )
    return {
        "run_id": run_id,
        "plan_id": plan_id,
        "area": str(area),
        "interval_end": interval_end.isoformat(),
        "candidates": len(active),
        "withdrawn": len(withdrawn),
        "batch_size": params.get("batch_size") or settings().batch_size,
        "force_rewrite": bool(params.get("force_rewrite")),
    }


def resolve_orgs(plan: dict) -> list[dict]:
    """Check subscribers against T2A's organizations; return the organizations to fetch.

    Exactly the organizations of servable subscribers — never one nobody active belongs to.
    A subscriber T2A cannot serve (or with a bad row) becomes a dead letter.
    """
    pg = card_store.hook()
    area = staging.area_from_url(plan["area"])
    candidates = [subscribers.Subscriber(**row) for row in json.loads((area / CANDIDATES_FILE).read_text())]

    def dead_letter_unsafe_org(error: T2AError) -> None:
        # Not replayable: the code itself is the problem. str(error) names it escaped.
        card_store.dead_letters.record(
            pg,
            run_id=plan["run_id"],
            stage="sales_org",
            item_key=str(error),
            payload={"problem": str(error)},
            error=str(error),
            attempts=1,
        )

    try:
        t2a_orgs = {org.code: org for org in T2AClient.from_settings().list_sales_orgs(dead_letter_unsafe_org)}
    except T2AError as exc:
        # The client already retried transient failures: retrying the task would nest retries.
        raise AirflowFailException(f"cannot list T2A's sales organizations: {exc}") from exc
    valid, rejected = subscribers.validate(
        candidates, known_orgs=set(t2a_orgs), known_scenarios=scenarios.available_scenarios()
    )
    for r in rejected:
        card_store.dead_letters.record(
            pg,
            run_id=plan["run_id"],
            stage="subscriber",
            item_key=r.user_id if r.scenario_id is None else f"{r.user_id}:{r.scenario_id}",
            payload={"user_id": r.user_id, "scenario_id": r.scenario_id, "subscriber": r.row},
            error=r.problem,
            attempts=1,
        )
    (area / SUBSCRIBERS_FILE).write_text(json.dumps([s.as_dict() for s in valid]))
    interval_end = datetime.fromisoformat(plan["interval_end"])
    orgs = []
    for code in sorted({s.sales_org_cd for s in valid}):
        org = t2a_orgs[code]
        period = reporting_period(interval_end, org.tz_offset)
        orgs.append(
            {
                "sales_org_cd": code,
                "name": org.name,
                "currency": org.currency,
                "tz_offset": org.tz_offset,
                "period": period.month,
                "period_compact": period.month_compact,
                "date": period.date,
                "plan_id": plan["plan_id"],
                "area": plan["area"],
                "interval_end": plan["interval_end"],
            }
        )
    log.info(
        "%d servable subscribers, %d rejected; %d sales orgs to fetch of %d in T2A",
        len(valid),
        len(rejected),
        len(orgs),
        len(t2a_orgs),
    )
    return orgs


def fetch_org(org: dict, *, run_id: str) -> dict:
    """Fetch one organization's three queries into the plan's staging area.

    On any failure — a T2A error after the client's retries, a malformed answer, a staging
    write that fails, a value that cannot be written — the org is dead-lettered and the run
    goes on without it: if its last good extracts are younger than
    STALE_FALLBACK_MAX_AGE_HOURS they stand in, and its cards say which data time they show.
    Otherwise its subscribers keep the cards they have.
    """
    code = org["sales_org_cd"]
    area = staging.area_from_url(org["area"])
    sales_org = SalesOrg(code=code, name=org["name"], currency=org["currency"], tz_offset=org["tz_offset"])
    period = ReportingPeriod(month=org["period"], month_compact=org["period_compact"], date=org["date"])
    queries = org_query_params(sales_org, period)
    client = T2AClient.from_settings()
    started = time.monotonic()
    rows: dict[str, int] = {}
    result = {"sales_org_cd": code, "plan_id": org["plan_id"]}
    try:
        for query, params in queries.items():
            extract = client.query(query, params, org=code)
            rows[query] = staging.write_org_extract(area, code, query, extract.rows)
    except Exception as exc:  # one org's failure, whatever it is, must not fail the run
        return {**result, **_fetch_failed(org, area, queries, run_id, exc)}
    try:
        staging.keep_last_good(
            area, code, {"interval_end": org["interval_end"], "period": org["period"], "rows": rows}, lock=_org_lock
        )
    except Exception:  # this run's extracts are fine; only the next fallback is older
        log.exception("sales org %s: could not keep its extracts as last good", code)
    log.info("sales org %s fetched in %.2fs: %s", code, time.monotonic() - started, rows)
    return {**result, "status": "ok", "rows": rows}


def _org_lock(org: str):
    """One org's last good copy is swapped and read by one process at a time, on any host."""
    return card_store.advisory_lock(card_store.hook(), f"last_good:{org}")


def _fetch_failed(org: dict, area, queries: dict, run_id: str, exc: Exception) -> dict:
    """Dead-letter a failed fetch and fall back to the org's last good extracts if allowed."""
    code = org["sales_org_cd"]
    error = str(exc) if isinstance(exc, T2AError) else f"sales org {code}: {type(exc).__name__}: {exc}"
    card_store.dead_letters.record(
        card_store.hook(),
        run_id=run_id,
        stage="fetch",
        item_key=code,
        payload={"sales_org_cd": code, "queries": queries},
        error=error,
        attempts=getattr(exc, "attempts", 1),
    )
    try:
        last_good = staging.restore_last_good(
            area,
            code,
            interval_end=org["interval_end"],
            max_age_hours=settings().fallback_max_age_hours,
            lock=_org_lock,
        )
    except Exception:
        log.exception("sales org %s: its last good extracts could not be restored", code)
        last_good = None
    if last_good is None:
        return {"status": "failed", "error": error}
    log.warning("sales org %s: serving last good data as of %s", code, last_good["interval_end"])
    return {
        "status": "fallback",
        "error": error,
        "rows": last_good["rows"],
        "as_of": last_good["interval_end"],
        "period": last_good["period"],
    }


def merge_extracts(plan: dict, orgs: list[dict], fetched: list[dict]) -> dict:
    """Merge the organizations this plan attempt fetched successfully — and nothing else.

    Mapped results are matched to the plan by ``plan_id``: after a shrinking re-run Airflow
    can still hand over XComs of map indices that no longer exist, and those must not merge.
    """
    planned = [o["sales_org_cd"] for o in orgs]
    by_org = {
        r["sales_org_cd"]: r
        for r in fetched
        if r and r.get("plan_id") == plan["plan_id"] and r["sales_org_cd"] in planned
    }
    missing = [code for code in planned if code not in by_org]
    if missing:
        raise RuntimeError(f"plan {plan['plan_id']}: no fetch result for sales orgs {missing}")
    ok = [code for code in planned if by_org[code]["status"] == "ok"]
    fallback = {
        code: {"as_of": by_org[code]["as_of"], "period": by_org[code]["period"]}
        for code in planned
        if by_org[code]["status"] == "fallback"
    }
    failed = [code for code in planned if by_org[code]["status"] == "failed"]
    served = [code for code in planned if code in ok or code in fallback]
    index = merge.write_merged(staging.area_from_url(plan["area"]), served)
    rows = {query: sum(by_org[c]["rows"][query] for c in served) for query in merge.MERGED_FILES}
    log.info(
        "merged %d orgs (%d from their last good data %s, %d failed %s): rows %s",
        len(served),
        len(fallback),
        sorted(fallback),
        len(failed),
        failed,
        rows,
    )
    return {
        "orgs_served": served,
        "orgs_ok": ok,
        "orgs_fallback": fallback,
        "orgs_failed": failed,
        "rows": rows,
        "index": index,
    }


def plan_batches(plan: dict, merged: dict) -> list[dict]:
    """Split the servable subscribers into batches; subscribers of failed orgs keep their cards."""
    area = staging.area_from_url(plan["area"])
    served_orgs = set(merged["orgs_served"])
    subs = [
        subscribers.Subscriber(**row)
        for row in json.loads((area / SUBSCRIBERS_FILE).read_text())
        if row["sales_org_cd"] in served_orgs
    ]
    from airflow.configuration import conf  # core config: read when planning, not at import

    batches = subscribers.make_batches(subs, plan["batch_size"], conf.getint("core", "max_map_length"))
    (area / "batches").mkdir(parents=True, exist_ok=True)
    refs = []
    for number, batch in enumerate(batches, start=1):
        (area / "batches" / f"{number:04d}.json").write_text(json.dumps([s.as_dict() for s in batch]))
        orgs = sorted({s.sales_org_cd for s in batch})
        refs.append({"batch": number, "of": len(batches), "size": len(batch), "orgs": orgs})
    log.info("%d subscribers in %d batches (batch size %d)", len(subs), len(batches), plan["batch_size"])
    return refs


def _org_context(plan_orgs: list[dict], merged: dict, interval_end: str) -> dict[str, dict]:
    """Per org: currency, and the period and as-of time of the data actually used."""
    return {
        o["sales_org_cd"]: {
            "currency": o["currency"],
            "period": o["period"],
            "as_of": interval_end,
            **merged["orgs_fallback"].get(o["sales_org_cd"], {}),
        }
        for o in plan_orgs
    }


def _texts(by_id: dict) -> dict[str, str]:
    """Each value's canonical JSON, by key (page id or card id)."""
    return {key: canonical_json(value) for key, value in by_id.items()}


def _object_json(texts: dict[str, str]) -> str:
    """canonical_json of the object whose values' canonical JSON texts are given: its keys in
    the same (code point) order, so the text and its hash equal canonical_json's."""
    return "{" + ",".join(f"{canonical_json(key)}:{texts[key]}" for key in sorted(texts)) + "}"


def _render_key(scenario_id: str, locale: str, pages_json: str, context: dict, erp_base_url: str) -> str:
    """Everything a set of cards is rendered from, hashed."""
    inputs = [scenario_id, locale, pages_json, context, erp_base_url, renderer_fingerprint(scenario_id)]
    return hashlib.sha256(canonical_json(inputs).encode()).hexdigest()


def _dead_letter_scenario(pg, plan: dict, scenario_id: str, users: list[str], error: str) -> int:
    for user_id in users:
        card_store.dead_letters.record(
            pg,
            run_id=plan["run_id"],
            stage="scenario",
            item_key=f"{user_id}:{scenario_id}",
            payload={"user_id": user_id, "scenario_id": scenario_id, "interval_end": plan["interval_end"]},
            error=error,
            attempts=1,
        )
    return len(users)


def _failure(exc: Exception, *users: str) -> str:
    """A scenario dead letter's error: a card error's own words (they name scenario, page and
    locale); anything else by its type and message, its traceback in the task log."""
    if isinstance(exc, CardError):
        return str(exc)
    log.error("%d users (%s): %s", len(users), ", ".join(users[:5]), type(exc).__name__, exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def _run_isolated(
    scenario: scenarios.Scenario, subs: list[dict], data: dict, context: dict
) -> tuple[list[scenarios.AudienceResult], dict[str, str]]:
    """The scenario's audiences for these subscribers, and the error of each subscriber whose
    computation raises, whatever the exception. One vectorised pass for the whole batch; only
    when it raises is the batch halved, recursively, until the subscribers that raise on their
    own are found: a few passes per bad subscriber, and the others keep their cards."""
    try:
        return scenarios.run_batch(scenario, subs, data, context), {}
    except Exception as exc:
        if not subs:  # nobody to blame: the scenario fails as such
            raise
        if len(subs) == 1:
            return [], {subs[0]["user_id"]: _failure(exc, subs[0]["user_id"])}
        log.warning("scenario %s raised for %d subscribers together (%r); isolating", scenario.id, len(subs), exc)
    half = len(subs) // 2
    first, first_failed = _run_isolated(scenario, subs[:half], data, context)
    second, second_failed = _run_isolated(scenario, subs[half:], data, context)
    return first + second, first_failed | second_failed


def run_scenarios(plan: dict, orgs: list[dict], merged: dict, batch: dict) -> dict:
    """Run every scenario for one batch of subscribers and store their cards in one transaction.

    The engine computes pages once per audience (subscribers with identical inputs); only
    pages with per-user fields (daily_brief's overview: display_name) differ between its
    users. So the shared pages are serialized once per audience and their cards rendered
    once per audience and locale, and only the per-user pages and cards per user; each
    user's stored JSON is spliced from those texts. A rerun of the same interval whose render
    inputs hash the same as a user's stored cards' skips that user: unchanged is unchanged.
    """
    started = time.monotonic()
    cfg = settings()
    area = staging.area_from_url(plan["area"])
    subs = json.loads((area / "batches" / f"{batch['batch']:04d}.json").read_text())
    data = {query: merge.read_merged(area, merged["index"], query, batch["orgs"]) for query in merge.MERGED_FILES}
    context = _org_context(orgs, merged, plan["interval_end"])
    interval_end = datetime.fromisoformat(plan["interval_end"])
    pg = card_store.hook()
    rows: list[card_store.results.CardRow] = []
    dead = skipped = 0
    locale_of = {s["user_id"]: s["locale"] for s in subs}
    for scenario_id in scenarios.available_scenarios():
        # The engine serves only subscribers whose scenario list names this scenario (or is NULL).
        audiences, failed = _run_isolated(scenarios.load_scenario(scenario_id), subs, data, context)
        for user, error in failed.items():
            dead += _dead_letter_scenario(pg, plan, scenario_id, [user], error)
        stored = (
            {}
            if plan["force_rewrite"]
            else card_store.results.render_keys(
                pg,
                scenario_id=scenario_id,
                user_ids=[u for a in audiences for u in a.user_ids],
                interval_end=interval_end,
            )
        )
        for audience in audiences:
            card_context = {"sales_org_cd": audience.sales_org_cd, **context[audience.sales_org_cd]}
            shared_json = _texts(audience.shared_pages)
            for locale in sorted({locale_of[u] for u in audience.user_ids}):
                to_render = []
                for user in (u for u in audience.user_ids if locale_of[u] == locale):
                    try:
                        personal = audience.personal_pages(user)
                        pages_json = _object_json(shared_json | _texts(personal))
                    except Exception as exc:  # one subscriber's value must not cost the batch
                        dead += _dead_letter_scenario(pg, plan, scenario_id, [user], _failure(exc, user))
                        continue
                    key = _render_key(scenario_id, locale, pages_json, card_context, cfg.erp_base_url)
                    if stored.get(user) == key:
                        skipped += 1
                    else:
                        to_render.append((user, personal, pages_json, key))
                if not to_render:
                    continue
                cards_of = functools.partial(
                    render_cards, scenario_id, locale=locale, erp_base_url=cfg.erp_base_url, context=card_context
                )
                try:
                    shared_cards = _texts(cards_of(audience.shared_pages))
                except Exception as exc:  # the audience's shared cards: each of its users gets the letter
                    users = [u for u, *_ in to_render]
                    dead += _dead_letter_scenario(pg, plan, scenario_id, users, _failure(exc, *users))
                    continue
                for user, personal, pages_json, key in to_render:
                    try:  # a Back to another page needs its key: only pages without per-user fields have one
                        cards_json = _object_json(shared_cards | _texts(cards_of(personal)))
                    except Exception as exc:
                        dead += _dead_letter_scenario(pg, plan, scenario_id, [user], _failure(exc, user))
                        continue
                    digest = hashlib.sha256(f"{pages_json}\n{cards_json}".encode()).hexdigest()
                    rows.append(
                        card_store.results.CardRow(
                            user, scenario_id, audience.sales_org_cd, pages_json, cards_json, digest, key
                        )
                    )
    counts = card_store.results.store_cards(
        pg, rows, run_id=plan["run_id"], interval_end=interval_end, force=plan["force_rewrite"]
    )
    log.info(
        "batch %d/%d: %d subscribers, %d card rows stored, %d skipped as unchanged, %d dead letters in %.2fs",
        batch["batch"],
        batch["of"],
        len(subs),
        len(rows),
        skipped,
        dead,
        time.monotonic() - started,
    )
    return {
        "batch": batch["batch"],
        "subscribers": len(subs),
        "dead_letters": dead,
        **counts.as_dict(),
        "unchanged": counts.unchanged + skipped,
    }


def finalize(plan: dict, merged: dict | None, batches: list[dict] | None, results: list[dict | None]) -> dict:
    """Publish queued change events and record the run's counts; fail if a batch was lost.

    Runs even when an upstream task failed (trigger rule ``all_done``) so that
    ``pipeline_run`` always says how the run ended.
    """
    cfg = settings()
    pg = card_store.hook()
    done = {r["batch"]: r for r in results or [] if r}
    expected = {b["batch"] for b in batches or []}
    incomplete = merged is None or batches is None or not expected <= set(done)
    published = change_events.publish_pending(pg, cfg.redis_conn_id)
    # Never younger than a run may live: a running run's folder is never pruned.
    staging.prune(max(timedelta(hours=cfg.staging_retention_hours), RUN_TIMEOUT + PRUNE_GRACE))
    counts = {
        "orgs_fetched": len(merged["orgs_ok"]) if merged else 0,
        "orgs_failed": len(merged["orgs_failed"]) if merged else 0,
        "orgs_fallback": len(merged["orgs_fallback"]) if merged else 0,
        "subscribers_served": sum(r["subscribers"] - r["dead_letters"] for r in done.values()),
        "cards_written": sum(r["written"] for r in done.values()),
        "cards_unchanged": sum(r["unchanged"] for r in done.values()),
        "dead_letters": card_store.dead_letters.count_open(pg, plan["run_id"]),
    }
    status = "failed" if incomplete else ("partial" if counts["dead_letters"] else "success")
    card_store.runs.finish_run(pg, run_id=plan["run_id"], status=status, counts=counts)
    log.info("run %s %s: %s, %d change events published", plan["run_id"], status, counts, published)
    if incomplete:
        missing = sorted(expected - set(done))
        raise AirflowFailException(
            f"run {plan['run_id']}: incomplete (missing batches {missing}); see the failed upstream tasks"
        )
    return {**counts, "status": status, "events_published": published}


def interval_end(context) -> datetime:
    """The run's data interval end; a manual run without a logical date uses its run_after."""
    return context.get("data_interval_end") or context["dag_run"].run_after
