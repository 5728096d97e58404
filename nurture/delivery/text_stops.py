"""The SMS suppression list: a number on it gets no further text, from any path.

A number is listed when its owner replies STOP, when Twilio refuses a send because the number
unsubscribed (21610, e.g. Twilio's own STOP handling answered first), or when a status report
says the carrier will not take texts for it (21610, 30003-30007).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.outbox.models import Channel, Message, MessageStatus, SmsSuppression

# How a text held back by the list says why (here and in delivery.texts.check_text).
HELD_BACK = "the number gets no texts"


def suppress_number(
    session: Session, *, phone: str, reason: str, source: str, now: datetime
) -> bool:
    """Add `phone` to the SMS suppression list; False when it was already there."""
    if session.scalar(select(SmsSuppression.id).where(SmsSuppression.phone == phone)):
        return False
    try:
        with session.begin_nested():
            session.add(SmsSuppression(phone=phone, reason=reason, source=source, created_at=now))
    except IntegrityError:
        return False  # another request listed it first
    # Nothing planned for the number goes any more; a text already claimed is checked again
    # just before its send (delivery.send.mark_started).
    session.execute(
        update(Message)
        .where(
            Message.channel == Channel.SMS,
            Message.to_phone == phone,
            Message.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.SUPPRESSED, last_error=f"{HELD_BACK} ({reason})")
        .execution_options(synchronize_session=False)
    )
    return True


def resume_number(session: Session, *, phone: str, now: datetime) -> int:
    """Take `phone` off the list (START): its texts held back by the list and still ahead go.

    Only rows the list itself stopped and whose time has not come are planned again; each is
    checked as ever when it is due (consent, the visit as it stands, quiet hours).
    """
    session.execute(delete(SmsSuppression).where(SmsSuppression.phone == phone))
    result = session.execute(
        update(Message)
        .where(
            Message.channel == Channel.SMS,
            Message.to_phone == phone,
            Message.status == MessageStatus.SUPPRESSED,
            Message.attempts == 0,
            Message.due_at > now,
            Message.last_error.startswith(HELD_BACK),
        )
        .values(status=MessageStatus.PENDING, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
