"""The steps of sending claimed outbox rows at most once each: prepare, mark started, record.

delivery/pipeline.py runs them, overlapped, for a batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, exists, insert, select, update
from sqlalchemy.orm import Session, selectinload

from nurture.core import clock
from nurture.core.config import Settings, get_settings
from nurture.core.db import session_scope
from nurture.core.headers import UnsafeHeader
from nurture.delivery import texts
from nurture.delivery.cap import capped, within_window
from nurture.delivery.channels.base import (
    UNSUBSCRIBED,
    PermanentError,
    TransientError,
    UnknownOutcome,
    checked,
)
from nurture.delivery.compose import compose
from nurture.delivery.facts import Facts, check, gather
from nurture.delivery.forms import Forms
from nurture.delivery.retries import gave_up, retry_delay, retry_window
from nurture.delivery.sending import Outgoing, Result
from nurture.delivery.settle import advance_if_step
from nurture.delivery.text_stops import suppress_number
from nurture.enrollments import service as enrollments
from nurture.enrollments import variants
from nurture.leads.models import Lead
from nurture.outbox.models import (
    Channel,
    Message,
    MessageAttempt,
    MessageStatus,
    SmsSuppression,
    Stream,
)
from nurture.rendering.limits import template_line

log = logging.getLogger(__name__)

# Absences (a lapse, a cancel not rebooked) are counted in days: a scan every few minutes is
# plenty, and keeps their queries off most ticks.


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt did to one outbox row."""

    message_id: int
    status: str
    subject: str | None = None
    detail: str | None = None


def _load(session: Session, ids: Sequence[int]) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.id.in_(ids))
            .options(selectinload(Message.lead))
            .order_by(Message.id)
        )
    )


def lock_for_cap(session: Session, messages: Sequence[Message]) -> None:
    """Hold the leads of a batch's marketing emails until the batch's checks are committed.

    The weekly cap counts what went out (or is let through) for a lead; two batches checking
    the same lead at once would each count without the other. On PostgreSQL the leads' rows
    are locked (in id order, so batches never wait on each other in a circle); SQLite has one
    writer, so taking its write lock first does the same. A row let through is marked
    `cap_counted_at` in the same transaction, so the next batch to get the lock counts it.
    """
    if get_settings().max_marketing_per_week <= 0:
        return
    lead_ids = sorted(
        {m.lead_id for m in messages if m.stream == Stream.MARKETING and m.lead_id is not None}
    )
    if not lead_ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(Lead.id).where(Lead.id.in_(lead_ids)).order_by(Lead.id).with_for_update()
        )
    else:
        session.execute(
            update(Lead)
            .where(Lead.id.in_(lead_ids))
            .values(id=Lead.id)
            .execution_options(synchronize_session=False)
        )


def _update_by_id(session: Session, rows: list[dict[str, Any]]) -> None:
    """Write each row's new values by its id: one executemany of one cached statement.

    Every dict names the same columns. A Core statement, not the ORM's bulk update: that
    one inspects every row's values in Python first, which cost more than the write.
    """
    table = Message.__table__
    assert isinstance(table, Table)
    columns = [name for name in rows[0] if name != "id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )
    params = [{"row_id": r["id"], **{f"new_{n}": r[n] for n in columns}} for r in rows]
    session.execute(statement, params)


# What `prepare` changes on a row that goes out.
_GOING = ("lease_expires_at", "cap_counted_at", "language")


def prepare(
    ids: Sequence[int], forms: Forms | None = None
) -> tuple[list[tuple[int, Outgoing]], list[Outcome]]:
    """Re-check and render claimed rows; settle the ones that must not go out.

    `forms` keeps each step rendered once across the slices of a batch.
    """
    now = clock.now()
    ready: list[tuple[int, Outgoing]] = []
    settled: list[Outcome] = []
    lease_until = now + timedelta(seconds=get_settings().claim_lease_seconds)
    with session_scope() as session, session.no_autoflush:
        messages = _load(session, ids)
        found = {m.id for m in messages}
        settled += [Outcome(i, "not-claimed") for i in ids if i not in found]
        claimed = [m for m in messages if m.status == MessageStatus.SENDING]
        settled += [Outcome(m.id, "not-claimed") for m in messages if m not in claimed]
        lock_for_cap(session, claimed)
        facts = gather(session, claimed, now, sending=True)
        texts.gather_texts(session, facts, claimed)
        plans: list[dict[str, Any]] = []
        going: list[dict[str, Any]] = []  # what changes on the rows that go: one UPDATE
        forms = forms or Forms()  # each step rendered once where that is exact
        for message in claimed:
            # Work on the batch has started: a queue that was slow to reach it must not make
            # the tick take these rows for lost.
            message.lease_expires_at = lease_until
            if message.channel == Channel.SMS:
                hold = texts.check_text(message, facts, now)
            else:
                hold = check(message, facts, now) or capped(message, facts, now)
            if hold is None:
                if message.stream == Stream.MARKETING:
                    message.cap_counted_at = now
                try:
                    item: Outgoing
                    if message.channel == Channel.SMS:
                        item = texts.compose_text(message, facts)
                    else:
                        # Checked here too, so an unsafe header fails its row before any send.
                        item = checked(compose(message, facts, forms))
                        message.language = item.language
                except Exception as exc:  # noqa: BLE001 - one broken row must not sink a batch
                    settled.append(_render_failed(session, message, exc, now))
                    continue
                ready.append((message.id, item))
                going.append({"id": message.id, **{k: getattr(message, k) for k in _GOING}})
                # Its changes go in the statement below: a flush of hundreds of rows costs
                # more than rendering them.
                session.expunge(message)
                continue
            message.last_error = hold.reason
            message.claimed_at = message.lease_expires_at = None
            if hold.goal is not None:
                enrollment = facts.enrollments.get(message.enrollment_id or 0)
                if enrollment is not None:
                    enrollments.end(enrollment, reason=hold.goal, at=now)
            if hold.until is not None:
                message.status, message.due_at = MessageStatus.PENDING, hold.until
            else:
                message.status = hold.status
                if hold.status == MessageStatus.SKIPPED:
                    advance_if_step(session, message, facts, now, plans)
            settled.append(Outcome(message.id, str(message.status), detail=hold.reason))
        if going:
            _update_by_id(session, going)
        variants.plan_many(session, plans)
    return ready, settled


def _render_failed(session: Session, message: Message, exc: Exception, now: datetime) -> Outcome:
    """Fail a row whose template cannot render, with the reason staff need to fix it."""
    what = "build the email's headers" if isinstance(exc, UnsafeHeader) else "render the email"
    if message.channel == Channel.SMS:
        what = "render the text"
    line = template_line(exc)
    where = f" (template line {line})" if line is not None else ""
    detail = f"could not {what}{where}: {type(exc).__name__}: {exc}"[:2000]
    message.status = MessageStatus.FAILED
    message.last_error = detail
    message.attempts += 1
    message.claimed_at = message.lease_expires_at = None
    session.add(
        MessageAttempt(
            message_id=message.id,
            attempted_at=now,
            outcome="failed",
            reason="render",
            detail=detail,
        )
    )
    log.error("message %s could not be rendered: %s", message.id, type(exc).__name__)
    return Outcome(message.id, str(message.status), detail=detail)


STOPPED_WHILE_CLAIMED = "the number replied STOP (or was refused) after this text was claimed"


def mark_started(ids: Sequence[int], *, texts: bool = True) -> tuple[set[int], set[int]]:
    """Commit "the provider is about to be called" for rows still claimed and not yet started.

    Only rows this UPDATE returns may be sent: a duplicate task for the same ids gets none.
    A text whose number replied STOP since it was checked is settled as suppressed here, in
    the same transaction, and returned second (`texts=False` says the rows are all emails,
    which saves that statement).
    """
    now = clock.now()
    # The lease restarts with the attempt, so a tick only takes a chunk for lost when the
    # send itself has outlived the lease.
    lease_until = now + timedelta(seconds=get_settings().claim_lease_seconds)
    with session_scope() as session:
        suppressed = set() if not texts else _stop_texts(session, ids)
        started = session.scalars(
            update(Message)
            .where(*_claimed_not_started(ids))
            .values(
                attempt_started_at=now,
                attempts=Message.attempts + 1,
                lease_expires_at=lease_until,
            )
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
        return set(started), suppressed


def _claimed_not_started(ids: Sequence[int]) -> tuple[ColumnElement[bool], ...]:
    """The rows of `ids` still claimed (`sending`) whose send has not started."""
    return (
        Message.id.in_(ids),
        Message.status == MessageStatus.SENDING,
        Message.attempt_started_at.is_(None),
    )


def _stop_texts(session: Session, ids: Sequence[int]) -> set[int]:
    """Settle as suppressed the claimed texts whose number has replied STOP; return their ids."""
    stopped_number = exists().where(
        Message.channel == Channel.SMS, SmsSuppression.phone == Message.to_phone
    )
    stopped = session.scalars(
        update(Message)
        .where(*_claimed_not_started(ids), stopped_number)
        .values(
            status=MessageStatus.SUPPRESSED,
            last_error=STOPPED_WHILE_CLAIMED,
            claimed_at=None,
            lease_expires_at=None,
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    return set(stopped)


# What `_apply` may change on a row: written for a whole chunk in one executemany.
_RECORDED = (
    "status",
    "subject",
    "provider_message_id",
    "sent_at",
    "last_error",
    "retrying_since",
    "unknown_since",
    "due_at",
    "attempt_started_at",
    "claimed_at",
    "lease_expires_at",
)


def record(results: Sequence[Result]) -> list[Outcome]:
    """Write the provider's answers (and advance enrollments of sent steps) in one transaction.

    The rows and their attempts are written set-based, one statement each for the chunk;
    next steps are planned the same way (`plan_many`).
    """
    now = clock.now()
    settings = get_settings()
    outcomes: list[Outcome] = []
    by_id = {r.message_id: r for r in results}
    plans: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    with session_scope() as session, session.no_autoflush:
        messages = _load(session, list(by_id))
        marketing = [m for m in messages if m.enrollment_id or m.broadcast_id]
        facts = gather(session, marketing, now)
        for message in messages:
            result = by_id[message.id]
            outcome = _apply(session, message, result, facts, now, settings, plans)
            rows.append({"id": message.id, **{k: getattr(message, k) for k in _RECORDED}})
            attempts.append(
                {
                    "message_id": message.id,
                    "attempted_at": now,
                    "outcome": outcome,
                    "reason": result.error.reason if result.error else None,
                    "detail": message.last_error,
                }
            )
            outcomes.append(
                Outcome(message.id, str(message.status), message.subject, message.last_error)
            )
            # Its changes go in the statement below, not in a flush of its own.
            session.expunge(message)
        if rows:
            _update_by_id(session, rows)
            session.execute(insert(MessageAttempt), attempts)  # one multi-row INSERT
        _list_unsubscribed(session, messages, by_id, now)
        variants.plan_many(session, plans)
    return outcomes


def _list_unsubscribed(
    session: Session, messages: Sequence[Message], by_id: dict[int, Result], now: datetime
) -> None:
    """Put numbers Twilio refused as unsubscribed (21610) on the SMS suppression list.

    Twilio answers STOP itself on its default opt-out words, so a number can be opted out at
    Twilio before the reply reaches the clinic: its later texts stop here rather than each fail.
    """
    for message in messages:
        error = by_id[message.id].error
        if (
            isinstance(error, PermanentError)
            and error.reason == UNSUBSCRIBED
            and texts.is_text(message)
            and message.to_phone
        ):
            suppress_number(
                session, phone=message.to_phone, reason="error 21610", source="send", now=now
            )


def _apply(
    session: Session,
    message: Message,
    result: Result,
    facts: Facts,
    now: datetime,
    settings: Settings,
    plans: list[dict[str, Any]],
) -> str:
    """Apply one provider answer to its row; return the attempt's outcome."""
    error = result.error
    message.attempt_started_at = None
    message.claimed_at = message.lease_expires_at = None
    message.subject = result.subject
    if error is None:
        message.status = MessageStatus.SENT
        message.provider_message_id = result.provider_id
        message.sent_at = now
        message.last_error = None
        message.retrying_since = None
        advance_if_step(session, message, facts, now, plans)
        return "sent"
    message.last_error = str(error)[:2000]
    if isinstance(error, UnknownOutcome):
        message.status = MessageStatus.UNKNOWN
        message.unknown_since = now
        message.provider_message_id = error.provider_id or message.provider_message_id
        return "unknown"
    if isinstance(error, TransientError):
        since = message.retrying_since = message.retrying_since or now
        window = retry_window(message, settings)
        deadline = since + window if window is not None else None
        if deadline is None or now < deadline:
            message.status = MessageStatus.PENDING
            # A 429 says when the limit resets; anything else backs off with jitter. The last
            # try falls on the deadline rather than after it.
            retry_at = max(error.retry_at or now + retry_delay(message.attempts), now)
            due = min(retry_at, deadline) if deadline is not None else retry_at
            # A drip or broadcast email keeps its send window (no 3 a.m. retries).
            message.due_at = within_window(message, facts, due)
            return "retry"
        message.status = MessageStatus.FAILED
        message.last_error = gave_up(message.attempts, now - since, error)
        # The recipient did nothing wrong: their sequence goes on with its next email.
        advance_if_step(session, message, facts, now, plans)
        return "failed"
    message.status = MessageStatus.FAILED
    return "failed"
