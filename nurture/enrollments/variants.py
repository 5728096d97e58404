"""Which arm of a step's A/B test each planned email gets: at random, evenly, once.

The arm is chosen when the email's outbox row is planned and written in the same INSERT
(`Message.variant_key`), so no row exists without its arm, and the unique keys on messages
keep one row (one arm, one send) per enrollment and step however often it is planned.

The split is a permuted block design kept by counting: each new row goes to the arm with
the fewest rows of the step so far (every status counts: a planned email is an assignment),
ties broken at random. From even counts, k rows in a row therefore get the k arms in a random
order, so each person's arm is random and the counts never drift apart, whatever the batch
size. Planners of the same step take turns: the step's arm rows are locked (PostgreSQL) or
the database's write lock is taken (SQLite) before the counts are read, and held until the
planner commits. So after every commit, for every step with arms:

    max(count per arm) - min(count per arm) <= 1

counting the step's rows that carry one of its arms. Only rows deleted later (a lead erased)
can widen it, and the next rows planned go to the emptiest arms first, closing it again.

The bound holds however many planners run at once; what they pay is waiting for each other,
only when they plan the same tested step, and only until the one holding it commits (a send
batch's record, a signup, a lead import for its whole length). Locks are taken in step order
within one call. Transactions that plan in several calls (one lead starting several sequences)
mostly plan first steps, which the send loop never plans; should two ever wait on each other,
PostgreSQL ends one with a deadlock error and it fails like any database error, planning nothing.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nurture.outbox import plan as outbox
from nurture.outbox.models import Message
from nurture.sequences.models import StepVariant

_rng = random.SystemRandom()


def _arms_locked(session: Session, step_ids: set[int]) -> dict[int, list[str]]:
    """Return each step's arm keys in order, locked against other planners until commit."""
    if not step_ids:
        return {}
    query = (
        select(StepVariant.step_id, StepVariant.key)
        .where(StepVariant.step_id.in_(step_ids))
        .order_by(StepVariant.step_id, StepVariant.position)
    )
    if session.get_bind().dialect.name == "sqlite":
        # SQLite ignores FOR UPDATE; a write (that changes nothing) takes its one write lock,
        # so counts read after it cannot go stale before this transaction commits.
        session.execute(
            update(StepVariant)
            .where(StepVariant.step_id.in_(step_ids))
            .values(position=StepVariant.position)
            .execution_options(synchronize_session=False)
        )
    else:
        query = query.with_for_update()
    arms: dict[int, list[str]] = defaultdict(list)
    for step_id, key in session.execute(query):
        arms[step_id].append(key)
    return dict(arms)


def _counts(session: Session, arms: dict[int, list[str]]) -> dict[int, dict[str, int]]:
    """Count each step's rows per arm (arms with none yet count zero)."""
    counts = {step_id: dict.fromkeys(keys, 0) for step_id, keys in arms.items()}
    rows = session.execute(
        select(Message.step_id, Message.variant_key, func.count())
        .where(Message.step_id.in_(arms), Message.variant_key.is_not(None))
        .group_by(Message.step_id, Message.variant_key)
    )
    for step_id, key, n in rows:
        if step_id is not None and key in counts.get(step_id, {}):
            counts[step_id][key] = int(n)
    return counts


def _fewest(tally: dict[str, int]) -> str:
    low = min(tally.values())
    key = _rng.choice([k for k, n in tally.items() if n == low])
    tally[key] += 1
    return key


def assign(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set `variant_key` on each outbox row to plan: an arm of its step, or None.

    Rows whose key is planned already are left as they are (the insert skips them), so
    planning twice neither sends twice nor tips the split.
    """
    for row in rows:
        row.setdefault("variant_key", None)
    arms = _arms_locked(session, {int(r["step_id"]) for r in rows if r.get("step_id")})
    if not arms:
        return rows
    tested = [r for r in rows if r.get("step_id") in arms]
    planned = set(
        session.scalars(select(Message.key).where(Message.key.in_([r["key"] for r in tested])))
    )
    counts = _counts(session, arms)
    for row in tested:
        if row["key"] not in planned:
            row["variant_key"] = _fewest(counts[row["step_id"]])
            planned.add(row["key"])
    return rows


def pick(session: Session, *, step_id: int, keep: str | None = None) -> str | None:
    """Return the arm for one more row of a step (None without arms); `keep` if it has it.

    For a planned row moved onto another step: the arm it had stays where the step has one
    of that name, so the person reads what they were planned to read.
    """
    arms = _arms_locked(session, {step_id})
    if step_id not in arms:
        return None
    if keep is not None and keep in arms[step_id]:
        return keep
    return _fewest(_counts(session, arms)[step_id])


def plan_many(session: Session, rows: list[dict[str, Any]]) -> int:
    """Plan outbox rows in one insert, each row for a tested step carrying its arm."""
    return outbox.plan_many(session, assign(session, rows))


def plan_step(session: Session, **row: Any) -> Message:
    """Plan one outbox row (see `outbox.plan`); a row for a tested step gets its arm first."""
    if row.get("step_id") is not None and not session.scalar(
        select(Message.id).where(Message.key == row["key"])
    ):
        row["variant_key"] = pick(session, step_id=row["step_id"])
    return outbox.plan(session, **row)
