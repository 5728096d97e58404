"""Texts in the studio: the replies inbox, each visit text with its segment count and checks,
and texts beside emails in the outbox, the day view and the timeline."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from nurture.appointments import service
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.messages.text_checks import problems
from nurture.outbox.models import Message, TextReply
from nurture.rendering import segments
from tests.delivery.texts.helpers import NOW, PHONE, VISIT, tick


def _book(session) -> int:  # type: ignore[no-untyped-def]
    with clock.frozen_at(NOW):
        booked = service.book(
            session,
            data=AppointmentIn(
                email="pat@example.com",
                first_name="Pat",
                starts_at=VISIT,
                timezone="Europe/Berlin",
                phone=PHONE,
                sms_consent=True,
            ),
            now=NOW,
        ).appointment
    session.commit()
    return booked.id


def test_segments_count_gsm7_and_ucs2():
    assert segments.count("a" * 160) == segments.SegmentCount("GSM-7", 160, 1, 160)
    assert segments.count("a" * 161).segments == 2
    assert segments.count("{" * 80).units == 160  # extension characters take two
    assert segments.count("a" * 70 + "’").encoding == "UCS-2"
    assert segments.count("a" * 71 + "’").segments == 2
    assert segments.count("😀" * 35).units == 70


def test_the_shipped_texts_pass_the_checks_and_a_bad_one_does_not():
    from nurture.core.config import get_settings

    folder = get_settings().templates_dir / "texts"
    for path in folder.glob("*.txt"):
        assert problems(path.stem, path.read_text()) == [], path.name
    bad = "Hi, about your numbness: {{ visit.starts_at }}"
    found = " ".join(problems("appointment_reminder", bad))
    assert "clinic's name" in found
    assert "numbness" in found
    assert "how to confirm" in found


def test_texts_page_shows_each_text_with_its_segments_and_the_inbox(studio, session):
    _book(session)
    session.add(
        TextReply(
            provider_sid="SM" + "1" * 32,
            from_phone=PHONE,
            body="Is there parking?",
            action="inbox",
            received_at=NOW,
        )
    )
    session.commit()
    html = studio.get("/studio/texts").text
    assert "Is there parking?" in html
    assert "segment(s)" in html
    assert "Reminder" in html
    assert "Check:" not in html
    [reply] = session.scalars(select(TextReply))
    response = studio.post(f"/studio/texts/{reply.id}/read")
    assert response.status_code == 303
    session.refresh(reply)
    assert reply.read_at is not None


def test_outbox_day_view_and_timeline_show_texts_beside_emails(studio, session):
    visit_id = _book(session)
    tick(NOW + timedelta(seconds=1))
    text = session.scalar(select(Message).where(Message.channel == "sms", Message.status == "sent"))
    assert text is not None
    outbox = studio.get("/studio/outbox?status=sent").text
    assert PHONE in outbox
    assert ">text<" in outbox
    detail = studio.get(f"/studio/outbox/{text.id}").text
    assert "Reply C to confirm" in detail
    assert "GSM-7" in detail
    with clock.frozen_at(NOW):
        day = studio.get(f"/studio/visits?day={VISIT.date().isoformat()}").text
    assert "1 text(s)" in day
    assert f"tel:{PHONE}" in day
    timeline = studio.get(f"/studio/leads/{text.lead_id}").text
    assert "Text: booking confirmation" in timeline
    assert "Agreed to texts about visits" in timeline
    assert visit_id


NEW_WORDING = (
    "{{ clinic.name }}: visit {{ visit.starts_at|visit_time(visit.timezone, short=True) }}, "
    "{{ visit.address }}. Reply C to confirm, R to change. Bring your insurance card."
)


def test_staff_change_a_text_and_the_next_one_says_it(studio, session, twilio):
    page = studio.get("/studio/texts/edit/appointment_confirmation").text
    assert 'data-segments="segment-count"' in page
    assert "/static/texts.js" in page
    response = studio.post(
        "/studio/texts/edit/appointment_confirmation", data={"source": NEW_WORDING}
    )
    assert response.status_code == 303
    _book(session)
    tick(NOW + timedelta(seconds=1))
    [sent] = twilio.state.accepted
    assert "Bring your insurance card." in sent["Body"]
    assert "Reply STOP to opt out." in sent["Body"]
    studio.post("/studio/texts/edit/appointment_confirmation", data={"reset": "1"})
    assert "changed in the studio" not in studio.get("/studio/texts").text


def test_a_text_that_breaks_the_checks_or_the_sandbox_is_not_saved(studio, session):
    for source, why in (
        (NEW_WORDING + " About your numbness.", "must not mention 'numbness'"),
        ("{{ clinic.name }}: see you soon. Reply C.", "the day and time"),
        (NEW_WORDING + " {{ ''.__class__.__mro__ }}", "cannot be shown"),
        (NEW_WORDING + " {{ nothing_here }}", "cannot be shown"),
    ):
        response = studio.post("/studio/texts/edit/appointment_reminder", data={"source": source})
        assert response.status_code == 422, source
        assert why in html.unescape(response.text), source
    assert "changed in the studio" not in studio.get("/studio/texts").text
    assert studio.get("/studio/texts/edit/nothing").status_code == 404


def test_staff_book_a_visit_with_a_mobile_number_and_sms_consent(studio, session):
    from nurture.appointments.models import Appointment
    from nurture.leads.models import ConsentRecord
    from tests.factories import make_lead

    lead = make_lead(session, timezone="Europe/Berlin")
    session.commit()
    when = (clock.now() + timedelta(days=5)).strftime("%Y-%m-%dT10:30")
    url = f"/studio/leads/{lead.id}/appointments"
    bad = studio.post(url, {"starts_at": when, "timezone": "Europe/Berlin", "phone": "12"})
    assert bad.status_code == 303
    assert "phone" in html.unescape(studio.get(f"/studio/leads/{lead.id}").text)
    assert session.scalar(select(Appointment.id)) is None
    form = {"starts_at": when, "timezone": "Europe/Berlin", "phone": PHONE, "sms_consent": "yes"}
    assert studio.post(url, form).status_code == 303
    session.expire_all()
    visit = session.scalar(select(Appointment))
    assert visit is not None
    assert visit.phone == PHONE
    assert session.scalar(select(ConsentRecord.purpose)) == "sms_reminders"
    texts = session.scalars(select(Message.to_phone).where(Message.channel == "sms"))
    assert set(texts) == {PHONE}


SPANISH_WORDING = (
    "{{ clinic.name }}: cita el {{ visit.starts_at|visit_time(visit.timezone, short=True) }}, "
    "{{ visit.address }}. Responda C para confirmar o R para cambiarla. Traiga su tarjeta."
)


def test_staff_change_and_reset_the_spanish_wording_of_a_text(studio, session):
    from nurture.staff.models import AuditEntry

    url = "/studio/texts/edit/appointment_reminder/languages/es"
    assert f'href="{url}"' in studio.get("/studio/texts").text
    page = studio.get(url).text
    assert "Reminder in Spanish" in page
    assert 'lang="es"' in page
    assert "Responda STOP" in page  # the opt-out line Spanish readers get
    for source, why in (
        (SPANISH_WORDING + " Por su hormigueo.", "must not mention 'hormigue"),
        (SPANISH_WORDING + " Sobre su ciática.", "must not mention 'ciátic"),
        (SPANISH_WORDING + " {{ ''.__class__.__mro__ }}", "cannot be shown"),
        ("{{ clinic.name }}: hasta pronto. Responda C.", "the day and time"),
        (SPANISH_WORDING + " " + "x" * 640, "keep it under 640"),
    ):
        refused = studio.post(url, data={"source": source})
        assert refused.status_code == 422, source
        assert why in html.unescape(refused.text), source
    assert studio.post(url, data={"source": SPANISH_WORDING}).status_code == 303
    assert "Traiga su tarjeta" in studio.get(url).text
    assert "Traiga su tarjeta" not in studio.get("/studio/texts/edit/appointment_reminder").text
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "texts.edit")).one()
    assert entry.target == "text appointment_reminder es"
    assert entry.after == {"source": SPANISH_WORDING}
    assert studio.post(url, data={"reset": "1"}).status_code == 303
    assert "Traiga su tarjeta" not in studio.get(url).text
    assert studio.get("/studio/texts/edit/appointment_reminder/languages/xx").status_code == 404
    # CSRF: a post without the page's token changes nothing.
    forged = studio.client.post(url, data={"source": SPANISH_WORDING}, follow_redirects=False)
    assert forged.status_code in (400, 403)
    assert "Traiga su tarjeta" not in studio.get(url).text
