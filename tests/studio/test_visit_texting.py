"""A visit's number and text consent: from Cal.com's booking form (set before its texts are
planned) and from the studio (texts planned for what is still ahead, or stopped)."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import select

from nurture.appointments.models import Appointment
from nurture.core import clock
from nurture.leads.models import ConsentRecord
from nurture.outbox.models import Message, MessageStatus
from nurture.staff.models import AuditEntry
from tests.appointments.test_calcom import SECRET, T0, booking, post
from tests.delivery.texts.helpers import NOW, PHONE, VISIT
from tests.studio.conftest import Studio


def _texts(session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    session.expire_all()
    rows = session.scalars(select(Message).where(Message.channel == "sms"))
    return {(m.reminder or "").split("@")[0]: m.status for m in rows}


def test_a_calcom_booking_with_phone_and_ticked_consent_plans_its_texts(client, session, settings):
    settings(calcom_webhook_secret=SECRET)
    payload = booking("t1", VISIT)
    payload["attendees"][0]["phoneNumber"] = "015112345678"  # national: read in the clinic's
    payload["responses"]["sms_consent"] = {"label": "Texts about my visit", "value": True}
    settings(clinic_country="DE")
    assert post(client, "BOOKING_CREATED", payload, T0).json()["status"] == "booked"
    [visit] = session.scalars(select(Appointment))
    assert visit.phone == PHONE
    assert set(_texts(session)) == {"confirmation", "48h", "2h", "nudge"}
    assert session.scalar(select(ConsentRecord.source)) == "given with the booking"


def test_a_new_number_in_a_later_calcom_event_takes_the_planned_texts_with_it(
    client, session, settings
):
    settings(calcom_webhook_secret=SECRET, clinic_country="DE")
    payload = booking("t2", VISIT)
    payload["attendees"][0]["phoneNumber"] = "015112345678"
    payload["responses"]["sms_consent"] = {"label": "Texts about my visit", "value": True}
    assert post(client, "BOOKING_CREATED", payload, T0).json()["status"] == "booked"
    payload["attendees"][0]["phoneNumber"] = "015199999999"  # the patient corrected it
    post(client, "BOOKING_CREATED", payload, T0 + timedelta(minutes=5))
    session.expire_all()
    [visit] = session.scalars(select(Appointment))
    assert visit.phone == "+4915199999999"
    pending = session.scalars(
        select(Message.to_phone).where(
            Message.channel == "sms", Message.status == MessageStatus.PENDING
        )
    ).all()
    assert pending
    assert set(pending) == {"+4915199999999"}


def test_calcom_consent_question_is_the_clinics_and_unticked_means_no_texts(
    client, session, settings, admin_studio: Studio
):
    settings(calcom_webhook_secret=SECRET)
    form = {"calcom_sms_consent_question": "texts-ok"}
    response = admin_studio.post("/studio/admin/clinic", form)
    assert response.status_code == 303, response.text
    bad = admin_studio.post("/studio/admin/clinic", {"calcom_sms_consent_question": "texts ok!"})
    assert bad.status_code == 422
    unticked = booking(
        "t2", VISIT, userFieldsResponses={"texts-ok": {"label": "x", "value": False}}
    )
    unticked["responses"]["attendeePhoneNumber"] = {"label": "phone", "value": PHONE}
    post(client, "BOOKING_CREATED", unticked, T0)
    assert _texts(session) == {}
    ticked = booking(
        "t3",
        VISIT + timedelta(days=1),
        attendees=[{**unticked["attendees"][0], "email": "other@example.com"}],
    )
    ticked["responses"]["phone"] = {"label": "phone", "value": PHONE}
    ticked["responses"]["texts-ok"] = {"label": "Texts", "value": True}
    post(client, "BOOKING_CREATED", ticked, T0)
    assert "confirmation" in _texts(session)


def test_staff_add_consent_for_what_is_ahead_and_take_it_back(studio: Studio, session):
    from nurture.appointments import service
    from nurture.appointments.schemas import AppointmentIn

    with clock.frozen_at(NOW):
        visit = service.book(
            session,
            data=AppointmentIn(email="pat@example.com", starts_at=VISIT, timezone="Europe/Berlin"),
            now=NOW,
        ).appointment
    session.commit()
    url = f"/studio/visits/{visit.id}/texts"
    later = VISIT - timedelta(hours=30)  # the 48 h reminder has gone; 2 h and the nudge ahead
    with clock.frozen_at(later):
        assert studio.get(url).status_code == 200
        bad = studio.post(url, {"phone": "12", "sms_consent": "yes"})
        assert bad.status_code == 422
        assert "Mobile number" in html.unescape(bad.text)
        no_number = studio.post(url, {"phone": "", "sms_consent": "yes"})
        assert no_number.status_code == 422
        assert _texts(session) == {}
        assert studio.post(url, {"phone": PHONE, "sms_consent": "yes"}).status_code == 303
    assert _texts(session) == {"2h": MessageStatus.PENDING, "nudge": MessageStatus.PENDING}
    session.refresh(visit)
    assert visit.phone == PHONE
    with clock.frozen_at(later + timedelta(hours=1)):
        assert studio.post(url, {"phone": PHONE}).status_code == 303
    assert set(_texts(session).values()) == {MessageStatus.CANCELLED}
    with clock.frozen_at(later + timedelta(hours=2)):
        assert studio.post(url, {"phone": PHONE, "sms_consent": "yes"}).status_code == 303
    assert set(_texts(session).values()) == {MessageStatus.PENDING}
    audit = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "appointment.texting")
            .order_by(AuditEntry.id)
        )
    )
    assert len(audit) == 3
    assert audit[0].before == {"phone": None, "sms_consent": False}


def test_consent_for_a_number_that_replied_stop_is_saved_with_a_warning(studio: Studio, session):
    from nurture.appointments import service
    from nurture.appointments.schemas import AppointmentIn
    from nurture.outbox.models import SmsSuppression

    with clock.frozen_at(NOW):
        visit = service.book(
            session,
            data=AppointmentIn(email="pat@example.com", starts_at=VISIT, timezone="Europe/Berlin"),
            now=NOW,
        ).appointment
    session.add(SmsSuppression(phone=PHONE, reason="stop", source="reply", created_at=NOW))
    session.commit()
    with clock.frozen_at(NOW):
        studio.post(f"/studio/visits/{visit.id}/texts", {"phone": PHONE, "sms_consent": "yes"})
        page = html.unescape(studio.get(f"/studio/visits/{visit.id}/texts").text)
    assert "none go until the patient texts START" in page
