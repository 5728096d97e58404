"""Texts in the results: how many of each kind went, reached the phone or did not, and replies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from nurture.delivery.staff_texts import STAFF_REPLY
from nurture.outbox.models import Channel, DeliveryEvent, Message, MessageStatus, TextReply

# Each kind of text, in the studio's words, by the template it is sent with.
KINDS = {
    "appointment_reminder": "Reminder",
    "appointment_confirmation": "Booking confirmation",
    "appointment_nudge": "Please confirm",
    "appointment_update": "Visit moved",
    "appointment_cancellation": "Visit cancelled",
    STAFF_REPLY: "Answer from staff",
}
# What a patient's reply did, in the studio's words, in the order shown.
REPLIES = {
    "confirmed": 'Confirmed (replied "C")',
    "reschedule": 'Asked to change (replied "R")',
    "stop": "Stopped texts (STOP)",
    "start": "Started texts again (START)",
    "help": "Asked for help (HELP)",
    "inbox": "Other replies, for staff",
}
OUTCOMES = ("delivered", "undelivered", "failed")


@dataclass(frozen=True, slots=True)
class TextRow:
    """One kind of text and what became of those sent."""

    label: str
    sent: int
    delivered: int
    undelivered: int
    failed: int


def text_results(session: Session, *, only: ColumnElement[bool] | None = None) -> list[TextRow]:
    """Count every kind of text: sent, and the last report the carrier gave for each.

    `only`, a condition on Message, counts only the texts it matches (one site's).
    """
    kept = [] if only is None else [only]
    sent = dict(
        session.execute(
            select(Message.template, func.count())
            .where(
                Message.channel == Channel.SMS,
                Message.status.in_([MessageStatus.SENT, MessageStatus.UNKNOWN]),
                *kept,
            )
            .group_by(Message.template)
        ).all()
    )
    reported: dict[tuple[str, str], int] = {}
    for template, event, count in session.execute(
        select(Message.template, DeliveryEvent.event, func.count(func.distinct(Message.id)))
        .join(DeliveryEvent, DeliveryEvent.message_id == Message.id)
        .where(
            Message.channel == Channel.SMS,
            DeliveryEvent.event.in_([f"sms_{o}" for o in OUTCOMES]),
            *kept,
        )
        .group_by(Message.template, DeliveryEvent.event)
    ):
        reported[(str(template), str(event).removeprefix("sms_"))] = int(count)
    # A text Twilio refused outright (an invalid number) failed without a report.
    refused = dict(
        session.execute(
            select(Message.template, func.count())
            .where(Message.channel == Channel.SMS, Message.status == MessageStatus.FAILED, *kept)
            .group_by(Message.template)
        ).all()
    )
    return [
        TextRow(
            label=label,
            sent=int(sent.get(template, 0)),
            delivered=reported.get((template, "delivered"), 0),
            undelivered=reported.get((template, "undelivered"), 0),
            failed=reported.get((template, "failed"), 0) + int(refused.get(template, 0)),
        )
        for template, label in KINDS.items()
    ]


def replies_received(
    session: Session, *, only: ColumnElement[bool] | None = None
) -> list[tuple[str, int]]:
    """Count patients' replies by what they did (confirmed, stopped...), in the studio's words.

    `only`, a condition on TextReply, counts only the replies it matches (one site's).
    """
    query = select(TextReply.action, func.count()).group_by(TextReply.action)
    if only is not None:
        query = query.where(only)
    counts = dict(session.execute(query).all())
    return [(label, int(counts.get(action, 0))) for action, label in REPLIES.items()]
