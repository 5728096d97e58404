"""SendGrid's Event Webhook: verify, store each event once, then act on it.

Storing is all the webhook request does; acting (suppressing, ending enrollments, settling
`unknown` emails) happens in a task and, as a catch-up, in every tick.

What the events mean is read from SendGrid's Event Webhook Reference
(twilio.com/docs/sendgrid/for-developers/tracking-events/event):
- `dropped` names its `reason`. Only some are about the recipient ("Bounced Address",
  "Unsubscribed Address", "Spam Reporting Address", "Invalid" address); others are the sender's
  fault ("Invalid SMTPAPI header", "Spam Content", "Recipient List over Package Quota") and
  say nothing about the address, so they suppress nothing.
- An `open` with `sg_machine_open: true` is Apple Mail fetching the email for the reader
  (Mail Privacy Protection), not a person opening it; a `bounce` of `type: blocked` is a
  receiving server refusing the sending IP, not a bad address. Both are stored under their own
  names (`machine_open`, `blocked`) so results never count them as opens or bounces.
- `group_resubscribe` lifts what the same group's `group_unsubscribe` set.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy import ColumnElement, and_, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from nurture.core import dates
from nurture.delivery.settle import resolve_unknown
from nurture.leads.models import Lead, LeadStatus
from nurture.leads.suppressions import suppress
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, Suppression

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MESSAGE_ARG = "nurture_message_id"

SUPPRESSING = {
    "bounce": "bounce",
    "spamreport": "complaint",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
}
# `dropped` reasons about the recipient (matched whole, never as a word inside another reason:
# "Invalid SMTPAPI header" is the sender's mistake, not an invalid address).
DROPPED_SUPPRESSING = {
    "bounced address": "bounce",
    "invalid": "invalid",
    "invalid email address": "invalid",
    "spam reporting address": "complaint",
    "unsubscribed address": "unsubscribe",
}
GROUP_UNSUBSCRIBE = "sendgrid:group_unsubscribe"
# Stored names of events that must not count as what SendGrid calls them.
MACHINE_OPEN, BLOCKED = "machine_open", "blocked"
SETTLES_AS_SENT = {
    "processed",
    "delivered",
    "open",
    MACHINE_OPEN,
    "click",
    "deferred",
    "bounce",
    BLOCKED,
    "spamreport",
}


class BatchError(ValueError):
    """The body is not a JSON array of objects, so nothing in it can be trusted."""


@dataclass(frozen=True, slots=True)
class SendGridEvent:
    """One event of a batch, checked; `payload` is the object exactly as SendGrid sent it."""

    event_id: str
    event: str
    email: str | None
    occurred_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Skipped:
    """An event of a batch that could not be stored, and why."""

    index: int
    reason: str


def _text(item: dict[str, Any], name: str, limit: int) -> str | None:
    value = item.get(name)
    if isinstance(value, str) and 0 < len(value.strip()) <= limit:
        return value.strip()
    return None


def _occurred_at(value: object) -> datetime | None:
    # SendGrid documents whole seconds, yet some events carry fractions; both are Unix times.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return dates.check_moment(datetime.fromtimestamp(value, UTC)) if value >= 0 else None
    except (OverflowError, OSError, ValueError):
        return None


def counted_as(kind: str, item: dict[str, Any]) -> str:
    """Return the name an event is stored and counted under (see the module's notes)."""
    if kind == "open" and item.get("sg_machine_open") is True:
        return MACHINE_OPEN
    if kind == "bounce" and str(item.get("type") or "").strip().lower() == "blocked":
        return BLOCKED
    return kind


def _check(index: int, item: dict[str, Any]) -> SendGridEvent | Skipped:
    event_id = _text(item, "sg_event_id", 200)
    if event_id is None:
        return Skipped(index, "sg_event_id is missing or not a string of 1 to 200 characters")
    kind = _text(item, "event", 40)
    if kind is None:
        return Skipped(index, "event is missing or not a string of 1 to 40 characters")
    occurred_at = _occurred_at(item.get("timestamp"))
    if occurred_at is None:
        return Skipped(index, "timestamp is missing or not a Unix time")
    # Account events (account_status_change) name no recipient; they are stored all the same.
    email = item.get("email")
    if email is not None and not (isinstance(email, str) and len(email) <= 320):
        return Skipped(index, "email is not a string of at most 320 characters")
    return SendGridEvent(event_id, counted_as(kind, item), email or None, occurred_at, item)


def parse_batch(body: str) -> tuple[list[SendGridEvent], list[Skipped]]:
    """Read a batch: raise BatchError unless it is a JSON array of objects; skip bad events."""
    try:
        items = json.loads(body)
    except (ValueError, RecursionError) as exc:  # also 5,000-digit integers, deep nesting
        raise BatchError(f"The body is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise BatchError("The body must be a JSON array of event objects.")
    events: list[SendGridEvent] = []
    skipped: list[Skipped] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BatchError(f"Item {index} of the array is not an object; nothing was stored.")
        checked = _check(index, item)
        if isinstance(checked, Skipped):
            skipped.append(checked)
        else:
            events.append(checked)
    return events, skipped


class SignatureError(Exception):
    """The request is not signed by SendGrid's key, or the signature is too old."""


def verify(
    *,
    public_key: str,
    body: str,
    signature: str | None,
    timestamp: str | None,
    now: datetime,
    tolerance_seconds: int,
) -> None:
    """Check the ECDSA signature over timestamp + body, and that the timestamp is fresh."""
    if not signature or not timestamp:
        raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        stamp = int(timestamp)
    except ValueError as exc:
        raise SignatureError("the timestamp header is not a Unix time") from exc
    if abs(now.timestamp() - stamp) > tolerance_seconds:
        raise SignatureError("the signature is too old (or from the future); replay refused")
    verifier = EventWebhook()
    try:
        key = verifier.convert_public_key_to_ecdsa(public_key)
        valid = verifier.verify_signature(body, signature, timestamp, key)
    except (ValueError, binascii.Error) as exc:
        raise SignatureError("the signature could not be read") from exc
    if not valid:
        raise SignatureError("the signature does not match the body")


@dataclass(frozen=True, slots=True)
class StoreResult:
    """How many events of a batch were new."""

    stored: int
    duplicates: int


def _recipient(message: Message) -> str | None:
    return message.to_email or (message.lead.email if message.lead else None)


def store(session: Session, *, events: list[SendGridEvent], now: datetime) -> StoreResult:
    """Insert each event once (by sg_event_id), matched to its email through custom_args.

    A message id in custom_args only counts when the event's address is that email's
    recipient, so a colliding or forged id cannot touch someone else's email. Callers pass
    a chunk of a batch at a time, so each statement stays small.
    """
    if not events:
        return StoreResult(0, 0)
    wanted = {int(v) for e in events if (v := str(e.payload.get(MESSAGE_ARG, ""))).isdigit()}
    messages = (
        {
            m.id: m
            for m in session.scalars(
                select(Message).where(Message.id.in_(wanted)).options(selectinload(Message.lead))
            )
        }
        if wanted
        else {}
    )
    rows: list[dict[str, Any]] = []
    for event in events:
        raw = str(event.payload.get(MESSAGE_ARG, ""))
        message = messages.get(int(raw)) if raw.isdigit() else None
        if message is not None and _recipient(message) != (event.email or "").strip().lower():
            message = None
        rows.append(
            {
                "provider_event_id": event.event_id,
                "message_id": message.id if message else None,
                "event": event.event,
                "occurred_at": event.occurred_at,
                "received_at": now,
                "payload": event.payload,
            }
        )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Parameters as a list (executemany): one multi-row VALUES statement compiled per call
    # costs far more than the insert itself.
    statement = (
        insert(DeliveryEvent)
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
        .returning(DeliveryEvent.id)
    )
    stored = len(session.connection().execute(statement, rows).all())
    return StoreResult(stored, len(rows) - stored)


def suppression_reason(event: str, payload: dict[str, Any]) -> str | None:
    """Return why an event means "stop mailing this address", or None if it does not."""
    if event == "bounce" and str(payload.get("type") or "bounce").lower() == "blocked":
        return None  # a block is about the sending IP, not the address
    if event in SUPPRESSING:
        return SUPPRESSING[event]
    if event == "dropped":
        reason = " ".join(str(payload.get("reason") or "").lower().split())
        return DROPPED_SUPPRESSING.get(reason)
    return None


def lift_group_unsubscribe(session: Session, *, email: str, now: datetime) -> bool:
    """Undo what a SendGrid group unsubscribe of `email` set; False if it set nothing here.

    Only a suppression the group unsubscribe made is lifted (a bounce or a staff block stays),
    and the lead is subscribed again only if that unsubscribe is what ended its subscription.
    Sequences it ended stay ended.
    """
    address = email.strip().lower()
    row = session.scalar(select(Suppression).where(Suppression.email == address).with_for_update())
    if row is None or row.source != GROUP_UNSUBSCRIBE:
        return False
    lead = session.scalar(select(Lead).where(Lead.email == address))
    if (
        lead is not None
        and lead.status == LeadStatus.UNSUBSCRIBED
        and lead.unsubscribed_at == row.created_at
    ):
        lead.status = LeadStatus.ACTIVE
        lead.unsubscribed_at = None
    session.delete(row)
    return True


def process_pending(session: Session, *, now: datetime, limit: int = 1000, chunk: int = 200) -> int:
    """Act on stored events not yet processed, oldest first, committing every `chunk`.

    Short transactions matter on SQLite: one writer at a time, so a tick holding the lock over
    a thousand events made a webhook storing the next batch wait past its lock timeout.
    """
    done = 0
    while done < limit:
        count = _process_chunk(session, now=now, size=min(chunk, limit - done))
        session.commit()
        done += count
        if count < chunk:
            break
    return done


def _process_chunk(session: Session, *, now: datetime, size: int) -> int:

    query = (
        select(DeliveryEvent)
        .where(DeliveryEvent.processed_at.is_(None))
        .order_by(DeliveryEvent.occurred_at, DeliveryEvent.id)
        .limit(size)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = list(session.scalars(query))
    for event in events:
        reason = suppression_reason(event.event, event.payload)
        if event.event == "group_resubscribe" and str(event.payload.get("email") or "").strip():
            lift_group_unsubscribe(session, email=str(event.payload["email"]), now=now)
        if reason is not None and str(event.payload.get("email") or "").strip():
            suppress(
                session,
                email=str(event.payload.get("email", "")),
                reason=reason,
                source=f"sendgrid:{event.event}",
                now=now,
            )
        message = session.get(Message, event.message_id) if event.message_id else None
        if message is not None and message.status == MessageStatus.UNKNOWN:
            if event.event in SETTLES_AS_SENT:
                resolve_unknown(session, message_id=message.id, sent=True, now=now)
            elif event.event == "dropped":
                message.status = MessageStatus.FAILED
                message.last_error = f"dropped by SendGrid: {event.payload.get('reason', '')}"
        event.processed_at = now
    return len(events)


def unanswered(before: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Match unknown emails no provider event came for since `before`, not yet sent again.

    Texts are never sent again on silence: a status callback settles them."""
    return and_(
        Message.status == MessageStatus.UNKNOWN,
        Message.channel == "email",
        Message.unknown_since < before,
        Message.resent_after_unknown.is_(False),
        ~exists().where(DeliveryEvent.message_id == Message.id),
    )


def resend_unanswered(session: Session, *, now: datetime, after_seconds: int) -> int:
    """Send `unknown` emails again, once, when no provider event came for them in time."""
    if after_seconds <= 0:
        return 0
    result = session.execute(
        update(Message)
        .where(unanswered(now - timedelta(seconds=after_seconds)))
        .values(
            status=MessageStatus.PENDING,
            due_at=now,
            resent_after_unknown=True,
            last_error="sent again: SendGrid reported nothing for it within the window",
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
