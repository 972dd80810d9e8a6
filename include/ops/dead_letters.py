"""Dead letters (``pipeline_dead_letter``): list them, replay them, dismiss them.

Replay re-runs the DAG for exactly the failed items: a ``fetch`` dead letter with conf
``{"sales_orgs": [org]}``, a ``scenario``/``subscriber`` one with ``{"user_ids": [user]}``
(the DAG's params narrow by intersection, so organizations and users go in separate runs).
A run is started by a ``run_starters.RunStarter``: the Airflow REST API when
``AIRFLOW_API_URL`` is set, otherwise ``airflow dags test`` in a subprocess.

A row is only resolved by evidence, never by having been sent off. Its life:

- open: ``resolved_at`` NULL; ``resolution`` NULL, or why the last replay did not resolve it.
- claimed: ``resolution = 'replaying in run <run_id>'`` (still open). The claim is taken in
  the database *before* the run is started, with a run id chosen here, so two operators
  cannot replay one row twice and a CLI that dies while waiting loses nothing:
  ``settle`` (``acp dead-letters settle``) finishes the job later.
- settled, once the run has finished (its ``finalize`` wrote ``pipeline_run.finished_at``):
  resolved (``resolved_at = now()``, ``resolution = 'replayed by run <run_id>'``) when that
  run's status is success/partial, it recorded no dead letter for the same (stage, item),
  and it stored a card for the item (a card of the organization for ``fetch``, of the user
  and scenario otherwise); else open again with the reason. A run that ended without
  finishing (Airflow state failed, ``dags test`` exited) releases its claims with the reason.
- dismissed: ``resolved_at = now()``, ``resolution = 'dismissed: <reason>'`` (open rows only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

from include.card_store import transaction
from include.ops.run_starters import RunStarter

log = logging.getLogger(__name__)

ORG_STAGES = ("fetch",)
USER_STAGES = ("scenario", "subscriber")
CLAIM_PREFIX = "replaying in run "
COLUMNS = (
    "id",
    "run_id",
    "stage",
    "item_key",
    "payload",
    "error",
    "attempts",
    "failed_at",
    "resolved_at",
    "resolution",
)


class DeadLetterError(ValueError):
    """A dead-letter request that cannot be carried out; the message says which rows and why."""


@dataclass(frozen=True)
class DeadLetter:
    id: int
    run_id: str
    stage: str
    item_key: str
    payload: dict
    error: str
    attempts: int
    failed_at: datetime
    resolved_at: datetime | None
    resolution: str | None

    @property
    def claimed_by(self) -> str | None:
        """The run this open row is being replayed in, if any."""
        if self.resolved_at is None and self.resolution and self.resolution.startswith(CLAIM_PREFIX):
            return self.resolution.removeprefix(CLAIM_PREFIX)
        return None


@dataclass(frozen=True)
class Replay:
    """One run started for a group of dead letters."""

    run_id: str
    conf: dict
    ids: list[int]


# --- reading ------------------------------------------------------------------------------


def list_dead_letters(
    pg: PostgresHook,
    *,
    include_resolved: bool = False,
    stage: str | None = None,
    run_id: str | None = None,
    limit: int = 200,
) -> list[DeadLetter]:
    """Newest first; open rows only unless ``include_resolved``."""
    where, params = ["TRUE"], []
    if not include_resolved:
        where.append("resolved_at IS NULL")
    if stage:
        where.append("stage = %s")
        params.append(stage)
    if run_id:
        where.append("run_id = %s")
        params.append(run_id)
    return _select(pg, f"{' AND '.join(where)} ORDER BY failed_at DESC, id DESC LIMIT %s", (*params, limit))


def get_dead_letters(pg: PostgresHook, ids: Iterable[int]) -> list[DeadLetter]:
    """Exactly these rows, in id order; unknown ids are an error naming them."""
    wanted = sorted(set(ids))
    rows = _select(pg, "id = ANY(%s) ORDER BY id", (wanted,))
    missing = sorted(set(wanted) - {r.id for r in rows})
    if missing:
        raise DeadLetterError(f"no dead letter with id {missing}")
    return rows


def _select(pg: PostgresHook, where_sql: str, params: tuple) -> list[DeadLetter]:
    with transaction(pg) as cur:
        cur.execute(f"SELECT {', '.join(COLUMNS)} FROM pipeline_dead_letter WHERE {where_sql}", params)
        return [DeadLetter(*row) for row in cur.fetchall()]


# --- dismiss --------------------------------------------------------------------------------


def dismiss(pg: PostgresHook, ids: Iterable[int], reason: str) -> list[int]:
    """Close open, unclaimed rows without replaying them; returns the ids dismissed."""
    if not reason.strip():
        raise DeadLetterError("a dismissal needs a reason (it is kept in the row's resolution)")
    letters = get_dead_letters(pg, ids)
    _require_replayable(letters, "dismiss")
    with transaction(pg) as cur:
        cur.execute(
            "UPDATE pipeline_dead_letter SET resolved_at = now(), resolution = %s"
            " WHERE id = ANY(%s) AND resolved_at IS NULL RETURNING id",
            (f"dismissed: {reason.strip()}", [d.id for d in letters]),
        )
        done = sorted(row[0] for row in cur.fetchall())
    log.info("dismissed %d dead letter(s) %s: %s", len(done), done, reason)
    return done


def _require_replayable(letters: list[DeadLetter], action: str) -> None:
    resolved = [d.id for d in letters if d.resolved_at is not None]
    claimed = {d.id: d.claimed_by for d in letters if d.claimed_by}
    if resolved:
        raise DeadLetterError(f"cannot {action} dead letter(s) {resolved}: already resolved")
    if claimed:
        raise DeadLetterError(
            f"cannot {action} dead letter(s) being replayed {claimed} (id: run);"
            " run `dead-letters settle` once those runs have finished"
        )


# --- replay: plan, claim, start, settle ---------------------------------------------------------


def replay_groups(letters: list[DeadLetter]) -> list[tuple[dict, list[int]]]:
    """[(conf, ids)]: one run for organizations, one for users (params narrow by intersection)."""
    orgs: dict[str, list[int]] = {}
    users: dict[str, list[int]] = {}
    for d in letters:
        if d.stage in ORG_STAGES:
            orgs.setdefault(_payload_field(d, "sales_org_cd"), []).append(d.id)
        elif d.stage in USER_STAGES:
            users.setdefault(_payload_field(d, "user_id"), []).append(d.id)
        else:
            raise DeadLetterError(
                f"dead letter {d.id}: stage {d.stage!r} cannot be replayed;"
                f" known stages: {', '.join(ORG_STAGES + USER_STAGES)}"
            )
    groups = []
    if orgs:
        groups.append(({"sales_orgs": sorted(orgs)}, sorted(i for ids in orgs.values() for i in ids)))
    if users:
        groups.append(({"user_ids": sorted(users)}, sorted(i for ids in users.values() for i in ids)))
    return groups


def _payload_field(d: DeadLetter, field: str) -> str:
    value = d.payload.get(field) if isinstance(d.payload, dict) else None
    if not isinstance(value, str) or not value:
        raise DeadLetterError(
            f"dead letter {d.id} (stage {d.stage}): payload has no {field!r} to replay, got {value!r}"
        )
    return value


def claim(pg: PostgresHook, ids: list[int], run_id: str) -> None:
    """Mark rows as being replayed in ``run_id``; all or nothing, so a race loses cleanly."""
    with transaction(pg) as cur:
        cur.execute(
            "UPDATE pipeline_dead_letter SET resolution = %s WHERE id = ANY(%s)"
            " AND resolved_at IS NULL AND (resolution IS NULL OR resolution NOT LIKE %s)"
            " RETURNING id",
            (CLAIM_PREFIX + run_id, ids, CLAIM_PREFIX + "%"),
        )
        got = {row[0] for row in cur.fetchall()}
        if got != set(ids):
            raise DeadLetterError(
                f"dead letter(s) {sorted(set(ids) - got)} were resolved or claimed"
                " by someone else meanwhile; nothing was replayed"
            )


def release(pg: PostgresHook, run_id: str, reason: str) -> int:
    """Give back every claim of ``run_id`` (the run did not happen or did not finish)."""
    with transaction(pg) as cur:
        cur.execute(
            "UPDATE pipeline_dead_letter SET resolution = %s WHERE resolved_at IS NULL AND resolution = %s",
            (f"replay in run {run_id} did not resolve it: {reason}", CLAIM_PREFIX + run_id),
        )
        return cur.rowcount


def replay(pg: PostgresHook, ids: Iterable[int], starter: RunStarter) -> list[Replay]:
    """Claim the rows, then start one run per group; a run that cannot start releases its claim."""
    letters = get_dead_letters(pg, ids)
    _require_replayable(letters, "replay")
    replays = []
    for conf, group_ids in replay_groups(letters):
        run_id = starter.new_run_id()
        claim(pg, group_ids, run_id)
        try:
            starter.start(run_id, conf)
        except Exception as exc:
            release(pg, run_id, f"could not start: {exc}")
            raise
        actual = starter.airflow_run_id(pg, run_id)
        if actual is None:
            release(pg, run_id, "the run recorded nothing in pipeline_run (see its log)")
            actual = run_id
        elif actual != run_id:
            _move_claims(pg, run_id, actual)
        log.info("replaying dead letters %s in run %s with conf %s", group_ids, actual, conf)
        replays.append(Replay(run_id=actual, conf=conf, ids=group_ids))
    return replays


def _move_claims(pg: PostgresHook, claimed_as: str, run_id: str) -> None:
    with transaction(pg) as cur:
        cur.execute(
            "UPDATE pipeline_dead_letter SET resolution = %s WHERE resolved_at IS NULL AND resolution = %s",
            (CLAIM_PREFIX + run_id, CLAIM_PREFIX + claimed_as),
        )


def settle(pg: PostgresHook, run_ended: Callable[[str], bool] = lambda run_id: False) -> dict[int, str]:
    """Decide every claimed row whose run has finished; returns {id: resolution or reason}.

    ``run_ended(run_id)`` says a run can no longer finish (Airflow state terminal, or its
    ``dags test`` process is over): its still-unfinished claims are released.
    """
    outcome: dict[int, str] = {}
    claimed = [d for d in list_dead_letters(pg, limit=1_000_000) if d.claimed_by]
    for run_id in sorted({d.claimed_by for d in claimed}):
        run = _pipeline_run(pg, run_id)
        if run is None or run[1] is None:
            if run_ended(run_id):
                reason = "the run ended before recording its result in pipeline_run"
                release(pg, run_id, reason)
                outcome.update({d.id: reason for d in claimed if d.claimed_by == run_id})
            continue
        status = run[0]
        for d in (d for d in claimed if d.claimed_by == run_id):
            problem = (
                f"run status is {status}" if status not in ("success", "partial") else _item_problem(pg, d, run_id)
            )
            outcome[d.id] = _close(pg, d, run_id, problem)
    return outcome


def _pipeline_run(pg: PostgresHook, run_id: str) -> tuple | None:
    with transaction(pg) as cur:
        cur.execute("SELECT status, finished_at FROM pipeline_run WHERE run_id = %s", (run_id,))
        return cur.fetchone()


def _item_problem(pg: PostgresHook, d: DeadLetter, run_id: str) -> str | None:
    """Why the run did not do this item, or None if it did (the resolution rule above)."""
    with transaction(pg) as cur:
        cur.execute(
            "SELECT id FROM pipeline_dead_letter WHERE run_id = %s AND stage = %s AND item_key = %s",
            (run_id, d.stage, d.item_key),
        )
        again = cur.fetchone()
        if again:
            return f"it failed again (dead letter {again[0]})"
        if d.stage in ORG_STAGES:
            org = d.payload["sales_org_cd"]
            cur.execute(
                "SELECT 1 FROM user_scenario_result WHERE run_id = %s AND sales_org_cd = %s LIMIT 1", (run_id, org)
            )
            return None if cur.fetchone() else f"it stored no card for sales org {org} (no active subscriber?)"
        user, scenario = d.payload["user_id"], d.payload.get("scenario_id")
        cur.execute(
            "SELECT 1 FROM user_scenario_result WHERE run_id = %s AND user_id = %s"
            " AND (%s::text IS NULL OR scenario_id = %s) LIMIT 1",
            (run_id, user, scenario, scenario),
        )
        return None if cur.fetchone() else f"it stored no card for user {user} (inactive or unsubscribed?)"


def _close(pg: PostgresHook, d: DeadLetter, run_id: str, problem: str | None) -> str:
    resolution = (
        f"replayed by run {run_id}" if problem is None else f"replay in run {run_id} did not resolve it: {problem}"
    )
    with transaction(pg) as cur:
        cur.execute(
            "UPDATE pipeline_dead_letter SET resolution = %s,"
            " resolved_at = CASE WHEN %s THEN now() END WHERE id = %s AND resolution = %s",
            (resolution, problem is None, d.id, CLAIM_PREFIX + run_id),
        )
    log.info("dead letter %d (%s %s): %s", d.id, d.stage, d.item_key, resolution)
    return resolution


def as_dict(d: DeadLetter) -> dict[str, Any]:
    return {name: getattr(d, name) for name in COLUMNS}
