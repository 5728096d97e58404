"""Texts of a visit: planned beside the emails, sent through the real `twilio` client to the
local Twilio server (or written to the local outbox), and recorded like email."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.core import clock
from nurture.delivery import send, service
from nurture.delivery.channels.registry import get_backend, get_text_backend
from nurture.leads.models import ConsentRecord
from nurture.outbox.models import Message, MessageAttempt, MessageStatus, SmsSuppression
from nurture.rendering import segments
from tests.texts.helpers import NOW, PHONE, VISIT, booking, tick
from tests.twilio_server import Scripted


def _texts(session) -> list[Message]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(
        session.scalars(select(Message).where(Message.channel == "sms").order_by(Message.id))
    )


def test_phone_is_stored_in_e164_and_consent_is_its_own_ledger_entry(api, session, settings):
    settings(clinic_country="DE")
    response = api("POST", "/api/appointments", json=booking(phone="0151 1234 5678"))
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == PHONE
    [record] = session.scalars(
        select(ConsentRecord).where(ConsentRecord.purpose == "sms_reminders")
    )
    assert PHONE in record.text
    channels = sorted((r["name"], r["channel"]) for r in response.json()["reminders"])
    assert ("confirmation@r0", "sms") in channels
    assert ("confirmation@r0", "email") in channels
    assert {m.to_phone for m in _texts(session)} == {PHONE}
    # The confirmation, both reminders and the nudge: as many texts as emails.
    assert len(_texts(session)) == 4


def test_a_bad_number_gets_422_naming_the_field(api, session):
    response = api("POST", "/api/appointments", json=booking(phone="12"))
    assert response.status_code == 422
    assert "phone" in response.json()["fields"]
    assert session.scalar(select(Message.id)) is None


def test_without_consent_or_number_no_text_is_planned(api, session):
    api("POST", "/api/appointments", json=booking(sms_consent=False))
    api(
        "POST",
        "/api/appointments",
        json=booking(external_id="e2", email="b@example.com", phone=None),
    )
    assert _texts(session) == []
    assert session.scalar(select(Message.id).where(Message.channel == "email")) is not None


def test_the_clinics_mix_of_channels(api, session, settings):
    settings(reminder_channels="sms")
    api("POST", "/api/appointments", json=booking())
    api(
        "POST",
        "/api/appointments",
        json=booking(external_id="e2", email="b@example.com", phone=None),
    )
    emails = session.scalars(
        select(Message.to_email, Message.lead_id).where(Message.channel == "email")
    )
    # Texts only for the patient who can get them; the other keeps the emails.
    assert len(_texts(session)) == 4
    assert len(list(emails)) == 4


def test_an_email_only_clinic_plans_no_texts_and_stops_those_already_planned(
    api, session, twilio, settings
):
    api("POST", "/api/appointments", json=booking())
    assert len(_texts(session)) == 4
    settings(reminder_channels="email")
    api("POST", "/api/appointments", json=booking(external_id="e2", email="b@example.com"))
    # The second visit gets no texts at all; the first's planned texts are held at send time.
    assert len(_texts(session)) == 4
    tick(NOW + timedelta(seconds=1))
    assert twilio.state.requests == 0
    [confirmation] = [m for m in _texts(session) if m.reminder == "confirmation@r0"]
    assert confirmation.status == MessageStatus.CANCELLED
    assert "switched off" in (confirmation.last_error or "")
    emails = session.scalars(
        select(Message).where(Message.channel == "email", Message.reminder == "confirmation@r0")
    )
    assert {m.status for m in emails} == {MessageStatus.SENT}


def test_texts_go_through_the_twilio_client_once_with_opt_out_on_the_first(api, session, twilio):
    api("POST", "/api/appointments", json=booking())
    outcomes = tick(NOW + timedelta(seconds=1))
    assert any(o.status == "sent" for o in outcomes)
    [sent] = twilio.state.accepted
    assert sent["To"] == PHONE
    assert sent["From"] == "+15550100999"
    assert "Reply STOP to opt out" in sent["Body"]
    assert "Example Spine & Nerve Clinic" in sent["Body"]
    assert sent["StatusCallback"].startswith("https://nurture.test/webhooks/twilio/status?m=")
    [text] = [m for m in _texts(session) if m.status == MessageStatus.SENT]
    assert text.provider_message_id == sent["sid"]
    assert len(sent["sid"]) == 34
    assert sent["sid"].startswith("SM")
    # The 48 h reminder is the next text: no opt-out line any more.
    tick(VISIT - timedelta(hours=48))
    bodies = twilio.state.bodies_to(PHONE)
    assert len(bodies) == 2
    assert "STOP" not in bodies[1]
    # Each fits one GSM-7 segment, the opt-out line included.
    assert [(n.encoding, n.segments) for n in map(segments.count, bodies)] == [("GSM-7", 1)] * 2
    # Nothing is ever sent twice.
    tick(VISIT - timedelta(hours=48) + timedelta(minutes=5))
    assert len(twilio.state.bodies_to(PHONE)) == 2


def test_a_messaging_service_sender(api, session, twilio, settings):
    settings(twilio_from="MG" + "a" * 32)
    api("POST", "/api/appointments", json=booking())
    tick(NOW + timedelta(seconds=1))
    [sent] = twilio.state.accepted
    assert sent["MessagingServiceSid"] == "MG" + "a" * 32
    assert "From" not in sent


def test_the_local_outbox_keeps_texts_beside_emails(api, client, session, settings):
    api("POST", "/api/appointments", json=booking())
    tick(NOW + timedelta(seconds=1))
    folder = settings().resolved_outbox_dir / "texts"
    [path] = list(folder.glob("*.txt"))
    content = path.read_text()
    assert f"To: {PHONE}" in content
    assert "Reply C to confirm" in content
    assert list(settings().resolved_outbox_dir.glob("*.eml"))
    page = client.get("/outbox").text
    assert PHONE in page
    assert "Reply C to confirm" in page


def test_twilio_errors_are_recorded_like_email(api, session, twilio):
    api("POST", "/api/appointments", json=booking())
    twilio.state.script.append(Scripted(status=429))
    tick(NOW + timedelta(seconds=1))
    [first] = [m for m in _texts(session) if m.attempts]
    assert first.status == MessageStatus.PENDING
    assert "429" in (first.last_error or "")
    attempt = session.scalar(select(MessageAttempt).where(MessageAttempt.message_id == first.id))
    assert attempt is not None
    assert attempt.reason == "rate_limited"
    twilio.state.script.append(Scripted(status=503))
    tick(first.due_at + timedelta(seconds=1))
    session.refresh(first)
    assert first.status == MessageStatus.PENDING
    assert first.attempts == 2
    tick(first.due_at + timedelta(seconds=1))
    session.refresh(first)
    assert first.status == MessageStatus.SENT
    assert len(twilio.state.accepted) == 1


def test_an_unsubscribed_number_fails_permanently(api, session, twilio):
    twilio.state.unsubscribed.add(PHONE)
    api("POST", "/api/appointments", json=booking())
    tick(NOW + timedelta(seconds=1))
    [text] = [m for m in _texts(session) if m.attempts]
    assert text.status == MessageStatus.FAILED
    assert "21610" in (text.last_error or "")
    # Twilio answered the patient's STOP itself: the number joins the SMS suppression list and
    # the visit's other texts stop here instead of each failing at Twilio.
    [listed] = session.scalars(select(SmsSuppression))
    assert (listed.phone, listed.reason, listed.source) == (PHONE, "error 21610", "send")
    rest = [m for m in _texts(session) if m.id != text.id]
    assert rest
    assert {m.status for m in rest} == {MessageStatus.SUPPRESSED}
    tick(VISIT - timedelta(hours=48))
    assert twilio.state.requests == 1


def test_an_invalid_number_fails_permanently(api, session, twilio):
    api("POST", "/api/appointments", json=booking())
    session.execute(
        Message.__table__.update().where(Message.channel == "sms").values(to_phone="+1555")
    )
    session.commit()
    tick(NOW + timedelta(seconds=1))
    [text] = [m for m in _texts(session) if m.attempts]
    assert text.status == MessageStatus.FAILED
    assert "21211" in (text.last_error or "")


def test_a_timeout_after_the_request_left_is_unknown_and_never_resent(api, session, twilio):
    api("POST", "/api/appointments", json=booking())
    twilio.state.script.append(Scripted(delay=4, accept=True))
    tick(NOW + timedelta(seconds=1))
    [text] = [m for m in _texts(session) if m.attempts]
    assert text.status == MessageStatus.UNKNOWN
    tick(NOW + timedelta(hours=1))
    session.refresh(text)
    assert text.status == MessageStatus.UNKNOWN
    assert text.attempts == 1


def test_unreachable_twilio_is_transient(api, session, settings):
    settings(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="x" * 32,
        twilio_from="+15550100999",
        twilio_api_base="http://127.0.0.1:9",
    )
    api("POST", "/api/appointments", json=booking())
    tick(NOW + timedelta(seconds=1))
    [text] = [m for m in _texts(session) if m.attempts]
    assert text.status == MessageStatus.PENDING
    assert "could not reach Twilio" in (text.last_error or "")


def test_a_wrong_auth_token_holds_the_text_until_the_account_is_fixed(
    api, session, twilio, settings
):
    settings(twilio_auth_token="y" * 32)
    api("POST", "/api/appointments", json=booking())
    tick(NOW + timedelta(seconds=1))
    [text] = [m for m in _texts(session) if m.attempts]
    assert text.status == MessageStatus.PENDING
    assert "Twilio 401 (code 20003)" in (text.last_error or "")
    assert twilio.state.accepted == []
    settings(twilio_auth_token=twilio.state.auth_token)
    session.refresh(text)
    tick(text.due_at + timedelta(seconds=1))
    session.refresh(text)
    assert text.status == MessageStatus.SENT
    assert len(twilio.state.accepted) == 1


def test_quiet_hours_move_a_text_to_the_morning(api, session, twilio):
    late = datetime(2026, 3, 23, 21, 30, tzinfo=UTC)  # 22:30 in Berlin
    api("POST", "/api/appointments", json=booking(), at=late)
    tick(late + timedelta(seconds=1))
    assert twilio.state.accepted == []
    [confirmation] = [m for m in _texts(session) if m.reminder == "confirmation@r0"]
    assert confirmation.status == MessageStatus.PENDING
    assert confirmation.due_at == datetime(2026, 3, 24, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    tick(datetime(2026, 3, 24, 7, 0, 1, tzinfo=UTC))
    assert len(twilio.state.accepted) == 1


def test_a_text_that_would_arrive_after_the_visit_is_dropped(api, session, twilio):
    late = datetime(2026, 3, 23, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
    early_visit = datetime(2026, 3, 23, 22, 0, tzinfo=UTC)  # 23:00, before the morning
    api("POST", "/api/appointments", json=booking(starts_at=early_visit.isoformat()), at=late)
    tick(late + timedelta(seconds=1))
    [confirmation] = [m for m in _texts(session) if m.reminder == "confirmation@r0"]
    assert confirmation.status == MessageStatus.SKIPPED
    assert "after the visit" in (confirmation.last_error or "")
    assert twilio.state.accepted == []


def test_consent_withdrawn_before_sending_stops_the_text(api, session, twilio):
    api("POST", "/api/appointments", json=booking())
    record = session.scalar(select(ConsentRecord).where(ConsentRecord.purpose == "sms_reminders"))
    assert record is not None
    record.withdrawn_at = NOW
    session.commit()
    tick(NOW + timedelta(seconds=1))
    assert twilio.state.accepted == []
    assert {m.status for m in _texts(session) if m.reminder == "confirmation@r0"} == {
        MessageStatus.CANCELLED
    }


def test_a_number_stopped_after_its_text_was_claimed_gets_nothing(api, session, twilio):
    api("POST", "/api/appointments", json=booking())
    claimed: list[int] = []
    with clock.frozen_at(NOW + timedelta(seconds=1)):
        service.tick(dispatch=claimed.extend)
    # STOP arrives while the batch waits in the queue.
    session.add(SmsSuppression(phone=PHONE, reason="stop", source="reply"))
    session.commit()
    with clock.frozen_at(NOW + timedelta(seconds=2)):
        outcomes = service.deliver_batch(claimed, backend=get_backend(), texts=get_text_backend())
    assert twilio.state.accepted == []
    [text] = [m for m in _texts(session) if m.id in claimed]
    assert text.status == MessageStatus.SUPPRESSED
    assert any(o.status == "suppressed" for o in outcomes)


def test_a_visit_moved_cancels_its_texts_and_plans_new_ones(api, session, twilio):
    created = api("POST", "/api/appointments", json=booking()).json()
    later = (VISIT + timedelta(days=1)).isoformat()
    api("PATCH", f"/api/appointments/{created['id']}", json={"starts_at": later})
    texts = _texts(session)
    assert {m.status for m in texts if m.context["revision"] == 0} == {MessageStatus.CANCELLED}
    assert any(m.template == "appointment_update" for m in texts)
    tick(NOW + timedelta(seconds=2))
    [sent] = twilio.state.accepted
    assert "now" in sent["Body"]


def test_stop_between_the_checks_and_the_send_is_honoured(api, session, twilio):
    """The last look before the request: a STOP that lands after the batch was checked."""
    api("POST", "/api/appointments", json=booking())
    claimed: list[int] = []
    with clock.frozen_at(NOW + timedelta(seconds=1)):
        service.tick(dispatch=claimed.extend)
        ready, _ = send.prepare(claimed)
    [text_id] = [mid for mid, item in ready if hasattr(item, "to_phone")]
    session.add(SmsSuppression(phone=PHONE, reason="stop", source="reply"))
    session.commit()
    started, stopped = send.mark_started(claimed)
    assert stopped == {text_id}
    assert text_id not in started
    session.expire_all()
    text = session.get(Message, text_id)
    assert text is not None
    assert text.status == MessageStatus.SUPPRESSED
    assert text.attempts == 0


def test_in_production_without_twilio_no_text_is_planned(api, session, settings):
    settings(env="production", secret_key="s" * 40)
    api("POST", "/api/appointments", json=booking())
    assert _texts(session) == []


def test_a_spanish_patient_gets_spanish_texts_with_a_spanish_opt_out(api, session, twilio):
    api("POST", "/api/appointments", json=booking(language="es"))
    tick(NOW + timedelta(seconds=1))
    [sent] = twilio.state.accepted
    assert "Responda C para confirmar o R para cambiarla." in sent["Body"]
    assert "Responda STOP para no recibir más mensajes." in sent["Body"]
    assert "vie, 27 de mar" in sent["Body"]  # the day, in Spanish
    [text] = [m for m in _texts(session) if m.status == MessageStatus.SENT]
    assert text.language == "es"


def test_every_shipped_text_fits_one_segment_even_as_the_first_with_its_opt_out_line(api, session):
    from nurture.appointments.models import Appointment
    from nurture.delivery import texts
    from nurture.messages.contexts import appointment_context, clinic_context

    created = api("POST", "/api/appointments", json=booking()).json()
    appointment = session.get(Appointment, created["id"])
    assert appointment is not None
    context = {**clinic_context(), **appointment_context(appointment)}
    names = sorted(p.stem for p in (settings_dir() / "texts").glob("*.txt"))
    assert len(names) == 5
    for name in names:
        body = f"{texts.render_text(name, context, {})} {texts.OPT_OUT}"
        counted = segments.count(body)
        assert (counted.encoding, counted.segments) == ("GSM-7", 1), (body, counted.units)


def settings_dir():  # type: ignore[no-untyped-def]
    from nurture.core.config import get_settings

    return get_settings().templates_dir
