"""Twilio's webhooks: patients' replies (every keyword) and status reports, signed as Twilio
signs them (the `twilio` package's RequestValidator.compute_signature, see twilio_server)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.outbox.models import (
    DeliveryEvent,
    Message,
    MessageStatus,
    SmsSuppression,
    TextReply,
)
from tests.texts.helpers import NOW, PHONE, VISIT, booking, tick
from tests.twilio_server import Scripted

REPLY_URL = "https://nurture.test/webhooks/twilio"
CLINIC_NUMBER = "+15550100999"
_sids = iter(range(10**6))


def _inbound(body: str, *, sid: str | None = None, phone: str = PHONE) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS (Twilio's "TwiML for Programmable Messaging"
    request parameters: MessageSid, AccountSid, From, To, Body, NumMedia...)."""
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid or f"SM{next(_sids):032x}",
        "NumMedia": "0",
        "MessageSid": sid or f"SM{next(_sids):032x}",
        "SmsSid": sid or f"SM{next(_sids):032x}",
        "AccountSid": "AC" + "0" * 31 + "1",
        "From": phone,
        "To": CLINIC_NUMBER,
        "Body": body,
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def _post(client, twilio, url: str, form: dict[str, str], *, signature: str | None = None):  # type: ignore[no-untyped-def]
    sig = signature if signature is not None else twilio.state.signed(url, form)
    path = url.removeprefix("https://nurture.test")
    return client.post(path, data=form, headers={"X-Twilio-Signature": sig})


def _reply(api, client, twilio, body: str, **kwargs):  # type: ignore[no-untyped-def]
    from nurture.core import clock

    form = _inbound(body, **kwargs)
    with clock.frozen_at(NOW + timedelta(minutes=5)):
        return _post(client, twilio, REPLY_URL, form)


def _booked(api, twilio) -> int:  # type: ignore[no-untyped-def]
    created = api("POST", "/api/appointments", json=booking()).json()
    tick(NOW + timedelta(seconds=1))
    assert len(twilio.state.accepted) == 1
    return int(created["id"])


def test_unsigned_and_tampered_requests_get_403(api, client, twilio, session):
    _booked(api, twilio)
    form = _inbound("C")
    assert client.post("/webhooks/twilio", data=form).status_code == 403
    good = twilio.state.signed(REPLY_URL, form)
    tampered = {**form, "Body": "STOP"}
    assert _post(client, twilio, REPLY_URL, tampered, signature=good).status_code == 403
    wrong_url = twilio.state.signed("https://elsewhere.test/webhooks/twilio", form)
    assert _post(client, twilio, REPLY_URL, form, signature=wrong_url).status_code == 403
    assert session.scalar(select(TextReply.id)) is None
    assert session.scalar(select(SmsSuppression.id)) is None


def test_without_twilio_settings_replies_get_403(client, session):
    response = client.post(
        "/webhooks/twilio", data=_inbound("C"), headers={"X-Twilio-Signature": "x"}
    )
    assert response.status_code == 403


def test_c_confirms_the_visit_like_the_email_link_and_the_nudge_is_skipped(
    api, client, twilio, session
):
    visit_id = _booked(api, twilio)
    response = _reply(api, client, twilio, "c")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert "<Message>" in response.text
    assert "thank you" in response.text
    appointment = session.get(Appointment, visit_id)
    assert appointment is not None
    assert appointment.confirmed_at is not None
    # The nudge is skipped on both channels at its time.
    tick(VISIT - timedelta(hours=24))
    session.expire_all()
    nudges = session.scalars(select(Message).where(Message.template == "appointment_nudge"))
    assert {(m.channel, m.status) for m in nudges} == {
        ("email", MessageStatus.SKIPPED),
        ("sms", MessageStatus.SKIPPED),
    }


def test_every_confirm_word(api, client, twilio, session):
    visit_id = _booked(api, twilio)
    for word in ("YES", "Confirm", "y."):
        appointment = session.get(Appointment, visit_id)
        assert appointment is not None
        appointment.confirmed_at = None
        session.commit()
        assert "thank you" in _reply(api, client, twilio, word).text
        session.expire_all()
        assert session.get(Appointment, visit_id).confirmed_at is not None  # type: ignore[union-attr]


def test_r_answers_how_to_change_it(api, client, twilio, session):
    visit_id = _booked(api, twilio)
    for word in ("R", "reschedule"):
        text = _reply(api, client, twilio, word).text
        assert "call +1 555 010 0000" in text
        assert "/visit/" in text or "nurture.test" in text
    session.expire_all()
    assert session.get(Appointment, visit_id).change_requested_at is not None  # type: ignore[union-attr]


def test_stop_words_stop_every_text_at_once_and_are_answered_once(api, client, twilio, session):
    # The words, and REVOKE and OPTOUT, which Twilio's own opt-out handling acts on too.
    for word in ("STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT", "revoke", "OPTOUT"):
        session.execute(SmsSuppression.__table__.delete())
        session.commit()
        api("POST", "/api/appointments", json=booking(external_id=f"x-{word}"))
        first = _reply(api, client, twilio, word)
        assert "no more texts" in first.text, word
        again = _reply(api, client, twilio, word)
        assert "<Message>" not in again.text, word
    session.expire_all()
    pending = session.scalars(
        select(Message.status).where(Message.channel == "sms", Message.status == "pending")
    )
    assert list(pending) == []
    accepted = len(twilio.state.accepted)
    tick(VISIT - timedelta(hours=48))
    assert len(twilio.state.accepted) == accepted


def test_start_resumes_and_help_names_the_clinic(api, client, twilio, session):
    _booked(api, twilio)
    _reply(api, client, twilio, "STOP")
    assert "texts about your visits are back on" in _reply(api, client, twilio, "START").text
    assert session.scalar(select(SmsSuppression.id)) is None
    _reply(api, client, twilio, "STOP")
    _reply(api, client, twilio, "unstop")
    assert session.scalar(select(SmsSuppression.id)) is None
    help_text = _reply(api, client, twilio, "HELP").text
    assert "Example Spine &amp; Nerve Clinic" in help_text
    assert "+1 555 010 0000" in help_text


def test_anything_else_lands_in_the_inbox_once(api, client, twilio, session):
    _booked(api, twilio)
    response = _reply(api, client, twilio, "Can I bring my daughter?", sid="SM" + "e" * 32)
    assert "<Message>" not in response.text
    _reply(api, client, twilio, "Can I bring my daughter?", sid="SM" + "e" * 32)  # a retry
    [reply] = session.scalars(select(TextReply))
    assert reply.action == "inbox"
    assert reply.body == "Can I bring my daughter?"
    assert reply.lead_id is not None


def _status(client, twilio, sid: str, status: str, code: int | None = None):  # type: ignore[no-untyped-def]
    url, form = twilio.state.status_callback(sid, status, error_code=code)
    return _post(client, twilio, url, form)


def test_status_reports_are_recorded_with_their_error_code(api, client, twilio, session):
    _booked(api, twilio)
    sid = twilio.state.accepted[0]["sid"]
    for status in ("queued", "sent", "delivered"):
        assert _status(client, twilio, sid, status).json() == {"result": status}
    assert _status(client, twilio, sid, "delivered").json() == {"result": "duplicate"}
    events = session.scalars(select(DeliveryEvent.event).order_by(DeliveryEvent.id))
    assert list(events) == ["sms_queued", "sms_sent", "sms_delivered"]
    url, form = twilio.state.status_callback(sid, "failed")
    assert client.post(url.removeprefix("https://nurture.test"), data=form).status_code == 403


def test_undelivered_with_a_carrier_code_suppresses_the_number(api, client, twilio, session):
    _booked(api, twilio)
    sid = twilio.state.accepted[0]["sid"]
    assert _status(client, twilio, sid, "undelivered", 30007).json() == {"result": "undelivered"}
    event = session.scalar(select(DeliveryEvent))
    assert event is not None
    assert event.payload["ErrorCode"] == "30007"
    [listed] = session.scalars(select(SmsSuppression))
    assert listed.phone == PHONE
    assert listed.reason == "error 30007"
    text = session.scalar(select(Message).where(Message.provider_message_id == sid))
    assert text is not None
    assert "30007" in (text.last_error or "")
    tick(VISIT - timedelta(hours=48))
    assert len(twilio.state.accepted) == 1


def test_a_report_settles_a_text_whose_send_timed_out(api, client, twilio, session):
    api("POST", "/api/appointments", json=booking())
    twilio.state.script.append(Scripted(delay=4, accept=True))
    tick(NOW + timedelta(seconds=1))
    text = session.scalar(select(Message).where(Message.status == MessageStatus.UNKNOWN))
    assert text is not None
    [accepted] = twilio.state.accepted
    assert _status(client, twilio, accepted["sid"], "delivered").json() == {"result": "delivered"}
    session.refresh(text)
    assert text.status == MessageStatus.SENT
    assert text.provider_message_id == accepted["sid"]


def test_start_sends_the_visits_texts_still_ahead_and_never_one_already_sent(
    api, client, twilio, session
):
    from nurture.core import clock

    _booked(api, twilio)  # the confirmation went out
    _reply(api, client, twilio, "STOP")
    session.expire_all()
    texts = list(session.scalars(select(Message).where(Message.channel == "sms")))
    assert {m.template: m.status for m in texts if m.template != "appointment_confirmation"} == {
        "appointment_reminder": MessageStatus.SUPPRESSED,
        "appointment_nudge": MessageStatus.SUPPRESSED,
    }
    # Nothing goes while the number is stopped.
    tick(VISIT - timedelta(hours=48))
    assert len(twilio.state.accepted) == 1
    with clock.frozen_at(VISIT - timedelta(hours=47)):
        answer = _post(client, twilio, REPLY_URL, _inbound("UNSTOP"))
    assert "back on" in answer.text
    session.expire_all()
    due = {
        m.due_at: m.status for m in session.scalars(select(Message).where(Message.channel == "sms"))
    }
    # The 48 h reminder's time passed while stopped: it stays held, never sent late; what is
    # still ahead (the nudge, the 2 h reminder) goes again.
    assert due.pop(min(due)) == MessageStatus.SENT
    assert due.pop(min(due)) == MessageStatus.SUPPRESSED
    assert set(due.values()) == {MessageStatus.PENDING}
    tick(VISIT - timedelta(hours=24))
    tick(VISIT - timedelta(hours=2))
    bodies = twilio.state.bodies_to(PHONE)
    assert len(bodies) == 1 + len(due)
    assert len(set(bodies)) == len(bodies)


def test_the_same_text_posted_twice_at_once_acts_once_and_never_500s(api, client, twilio, session):
    """PostgreSQL: another request holds the SID's row, uncommitted, while this one arrives."""
    import threading

    from sqlalchemy import text

    from nurture.core import clock
    from nurture.core.db import session_factory

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("two writers at once need PostgreSQL (SQLite has one writer)")
    _booked(api, twilio)
    form = _inbound("STOP", sid="SM" + "f" * 32)
    first = session_factory()()
    first.add(
        TextReply(
            provider_sid=form["MessageSid"],
            from_phone=PHONE,
            body="STOP",
            action="stop",
            received_at=NOW,
        )
    )
    first.flush()  # the first request's row, not yet committed
    answers: list = []  # type: ignore[type-arg]

    def post() -> None:
        with clock.frozen_at(NOW + timedelta(minutes=5)):
            answers.append(_post(client, twilio, REPLY_URL, form))

    second = threading.Thread(target=post)
    second.start()
    waiting = (
        "select count(*) from pg_stat_activity"
        " where wait_event_type = 'Lock' and datname = current_database()"
    )
    deadline = time.monotonic() + 30
    while session.execute(text(waiting)).scalar() == 0:
        session.rollback()
        assert time.monotonic() < deadline, "the second request never waited for the first"
        time.sleep(0.02)
    first.commit()
    first.close()
    second.join(timeout=30)
    [answer] = answers
    assert answer.status_code == 200
    assert "<Message>" not in answer.text  # the first request answers; this one does nothing
    session.expire_all()
    assert len(list(session.scalars(select(TextReply)))) == 1
    assert session.scalar(select(SmsSuppression.id)) is None  # only the first request acts
