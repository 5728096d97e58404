"""Staff answer a patient's text from the studio, and read the conversation with a number.

An answer is an outbox row like every text (channel sms), keyed by the form it was typed in,
so pressing Send twice sends once; the engine claims, re-checks (STOP, consent) and records it.
An answer that names a condition (messages/privacy_words.py) is refused: texts show on lock
screens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.core.config import get_settings
from nurture.leads import consent
from nurture.messages.privacy_words import CONDITION_WORDS
from nurture.outbox import plan as outbox
from nurture.outbox.models import Channel, Message, SmsSuppression, Stream, TextReply

STAFF_REPLY = "staff_reply"
MAX_ANSWER = 640
THREAD_LENGTH = 200
_ONCE = re.compile(r"[0-9a-f]{32}")


class AnswerRefused(ValueError):
    """An answer that must not go, in words staff can act on."""


def lead_of(session: Session, phone: str) -> int | None:
    """Return the person a number belongs to: the last reply or text that named them."""
    from_reply = session.scalar(
        select(TextReply.lead_id)
        .where(TextReply.from_phone == phone, TextReply.lead_id.is_not(None))
        .order_by(TextReply.received_at.desc(), TextReply.id.desc())
        .limit(1)
    )
    if from_reply is not None:
        return from_reply
    return session.scalar(
        select(Message.lead_id)
        .where(Message.channel == Channel.SMS, Message.to_phone == phone)
        .order_by(Message.id.desc())
        .limit(1)
    )


def refusal(session: Session, *, phone: str, lead_id: int | None) -> str | None:
    """Say why no text may go to `phone` now (None: it may)."""
    if not get_settings().texts_enabled:
        return "Text messages are switched off for this clinic, so no answer can go by text."
    reason = session.scalar(select(SmsSuppression.reason).where(SmsSuppression.phone == phone))
    if reason == "stop":
        return "This number replied STOP: it gets no texts until the patient texts START."
    if reason is not None:
        return f"The carrier refuses texts to this number ({reason}). Call the patient instead."
    if lead_id is None:
        return "We don't know whose number this is, so we can't check their consent. Call them."
    if not consent.sms_consented(session, lead_ids={lead_id}):
        return "This patient has not agreed to texts. Call them, or record their consent first."
    return None


def _whole_words(text: str, found: re.Match[str]) -> str:
    """The words as typed around a match of a word's stem ("sciatica", not "sciatic")."""
    start, end = found.start(), found.end()
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return text[start:end]


def plan_answer(
    session: Session, *, phone: str, body: str, once: str, now: datetime
) -> tuple[Message, bool]:
    """Plan staff's answer to `phone`, due now; return the row and whether it is new.

    `once` is the form's own token: the same form sent twice plans one row.
    """
    if not _ONCE.fullmatch(once):
        raise AnswerRefused("The form is out of date; open the conversation again.")
    key = f"text-answer:{once}"
    existing = session.scalar(select(Message).where(Message.key == key))
    if existing is not None:
        return existing, False
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise AnswerRefused("Write the answer first.")
    if len(text) > MAX_ANSWER:
        raise AnswerRefused(f"The answer is {len(text)} characters; keep it under {MAX_ANSWER}.")
    health = CONDITION_WORDS.search(text)
    if health is not None:
        word = _whole_words(text, health)
        raise AnswerRefused(
            f"Leave out \u201c{word}\u201d: a text shows on a lock screen, where anyone "
            "holding the phone can read it. Keep to times and places, and ask them to call the "
            "clinic to talk about their health."
        )
    lead_id = lead_of(session, phone)
    why_not = refusal(session, phone=phone, lead_id=lead_id)
    if why_not is not None:
        raise AnswerRefused(why_not)
    message = outbox.plan(
        session,
        key=key,
        stream=Stream.TRANSACTIONAL,
        template=STAFF_REPLY,
        due_at=now,
        lead_id=lead_id,
        context={"kind": "reply", "body": text},
        channel=Channel.SMS,
        to_phone=phone,
    )
    return message, True


@dataclass(frozen=True, slots=True)
class Said:
    """One text of a conversation: from the patient (`inbound`) or to them."""

    at: datetime
    inbound: bool
    body: str
    status: str


def conversation(session: Session, phone: str, *, labels: dict[str, str]) -> list[Said]:
    """Return the texts between the clinic and `phone`, oldest first (the latest 200).

    Texts the engine wrote from a template show as their kind (`labels`); answers as written.
    """
    replies = session.scalars(
        select(TextReply)
        .where(TextReply.from_phone == phone)
        .order_by(TextReply.received_at.desc())
        .limit(THREAD_LENGTH)
    )
    sent = session.scalars(
        select(Message)
        .where(Message.channel == Channel.SMS, Message.to_phone == phone)
        .order_by(Message.id.desc())
        .limit(THREAD_LENGTH)
    )
    said = [Said(r.received_at, True, r.body, r.action) for r in replies]
    for m in sent:
        if m.template == STAFF_REPLY:
            body = str(m.context.get("body", ""))
        else:
            body = f"({labels.get(m.template or '', 'Visit text')})"
        said.append(Said(m.sent_at or m.due_at, False, body, m.status))
    said.sort(key=lambda s: s.at)
    return said[-THREAD_LENGTH:]
