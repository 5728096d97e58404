"""Staff answer a patient's text from the studio (once, through the engine, never after STOP),
read the conversation, and see texts counted in the results."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import func, select

from nurture.appointments import service
from nurture.appointments.schemas import AppointmentIn
from nurture.core import clock
from nurture.delivery import replies
from nurture.outbox.models import DeliveryEvent, Message, MessageStatus, TextReply
from nurture.staff.models import AuditEntry
from tests.delivery.texts.helpers import NOW, PHONE, VISIT, tick

THREAD = f"/studio/texts/numbers/{PHONE.lstrip('+')}"


def _book(session, *, consent: bool = True) -> int:  # type: ignore[no-untyped-def]
    with clock.frozen_at(NOW):
        booked = service.book(
            session,
            data=AppointmentIn(
                email="pat@example.com",
                first_name="Pat",
                starts_at=VISIT,
                timezone="Europe/Berlin",
                phone=PHONE,
                sms_consent=consent,
            ),
            now=NOW,
        ).appointment
    session.commit()
    return booked.id


def _patient_says(session, body: str, n: int) -> None:  # type: ignore[no-untyped-def]
    replies.handle_reply(session, sid=f"SM{n:032x}", phone_raw=PHONE, body=body, now=NOW)
    session.commit()


def _form(studio) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with clock.frozen_at(NOW):
        page = studio.get(THREAD).text
    [once] = re.findall(r'name="once" value="([0-9a-f]+)"', page)
    return {"once": once}


def test_staff_answer_goes_once_through_the_engine_and_shows_in_the_thread(studio, session, twilio):
    _book(session)
    tick(NOW + timedelta(seconds=1))  # the booking confirmation
    _patient_says(session, "Is there parking?", 1)
    inbox = studio.get("/studio/texts").text
    assert THREAD in inbox
    form = {**_form(studio), "body": "Yes, behind the building. See you Friday!"}
    with clock.frozen_at(NOW + timedelta(minutes=2)):
        first = studio.post(THREAD + "/answer", form)
        again = studio.post(THREAD + "/answer", form)  # a double click
    assert first.status_code == again.status_code == 303
    answers = list(session.scalars(select(Message).where(Message.template == "staff_reply")))
    assert len(answers) == 1
    assert answers[0].channel == "sms"
    assert answers[0].to_phone == PHONE
    tick(NOW + timedelta(minutes=3))
    tick(NOW + timedelta(minutes=4))
    bodies = [t["Body"] for t in twilio.state.accepted]
    assert bodies.count("Yes, behind the building. See you Friday!") == 1  # not the first text
    session.expire_all()
    assert session.scalar(select(TextReply.read_at)) is not None  # answering reads the reply
    thread = html.unescape(studio.get(THREAD).text)
    assert thread.index("Is there parking?") < thread.index("Yes, behind the building.")
    assert "(Booking confirmation)" in thread
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"texts.answer", "texts.answer.again"} <= actions


def test_no_answer_after_stop_or_without_consent(studio, session, twilio):
    _book(session)
    form = {**_form(studio), "body": "We can see you at 9 instead."}
    with clock.frozen_at(NOW + timedelta(minutes=1)):
        assert studio.post(THREAD + "/answer", form).status_code == 303
    _patient_says(session, "STOP", 2)  # after the answer was planned, before it went
    tick(NOW + timedelta(minutes=2))
    assert not [t for t in twilio.state.accepted if "at 9 instead" in t["Body"]]
    session.expire_all()
    answer = session.scalar(select(Message).where(Message.template == "staff_reply"))
    assert answer is not None
    assert answer.status == MessageStatus.SUPPRESSED
    assert "replied STOP" in studio.get(THREAD).text  # no form any more
    with clock.frozen_at(NOW + timedelta(minutes=3)):
        refused = studio.post(THREAD + "/answer", {"once": "1" * 32, "body": "Hello?"})
    assert refused.status_code == 422
    assert "STOP" in refused.text
    stranger = "/studio/texts/numbers/4915199999999"
    with clock.frozen_at(NOW):
        once = re.findall(r'name="once" value="([0-9a-f]+)"', studio.get(stranger).text)
        assert once == []  # nobody to check consent with: no form
        refused = studio.post(stranger + "/answer", {"once": "0" * 32, "body": "Hi"})
    assert refused.status_code == 422
    assert "agreed to texts" in refused.text or "whose number" in refused.text
    assert session.scalar(select(func.count()).where(Message.template == "staff_reply")) == 1
    assert studio.get("/studio/texts/numbers/not-a-number").status_code == 404


def test_an_answer_that_names_a_condition_is_refused_and_kept_in_the_form(studio, session, twilio):
    _book(session)
    for body, word in (
        ("Sorry your legs are still numb, see you at 9", "legs"),
        ("Tu ciática: ven a las 9", "ciática"),
        ("Sorry about the tingling; see you at 9", "tingling"),
    ):
        form = {**_form(studio), "body": body}
        with clock.frozen_at(NOW + timedelta(minutes=1)):
            refused = studio.post(THREAD + "/answer", form)
        assert refused.status_code == 422
        assert "lock screen" in html.unescape(refused.text)
        assert html.escape(body) in refused.text  # what they typed is still there to edit
        # The refusal quotes the word as typed, not the stem the check matched, and the box
        # it is about points to it.
        assert f"Leave out \u201c{word}\u201d" in html.unescape(refused.text)
        assert 'aria-invalid="true" aria-describedby="answer-problem"' in refused.text
    assert session.scalar(select(func.count()).where(Message.template == "staff_reply")) == 0
    form = {**_form(studio), "body": "See you at 9 tomorrow. Park behind the building."}
    with clock.frozen_at(NOW + timedelta(minutes=1)):
        assert studio.post(THREAD + "/answer", form).status_code == 303


def test_results_count_texts_by_kind_and_replies(studio, session, twilio):
    _book(session)
    tick(NOW + timedelta(seconds=1))
    session.expire_all()
    sent = session.scalar(select(Message).where(Message.channel == "sms", Message.status == "sent"))
    assert sent is not None
    assert sent.provider_message_id
    replies.record_status(
        session,
        form={"MessageSid": sent.provider_message_id or "", "MessageStatus": "delivered"},
        message_id=sent.id,
        now=NOW,
    )
    session.commit()
    assert session.scalar(select(DeliveryEvent.event)) == "sms_delivered"
    _patient_says(session, "C", 3)
    page = html.unescape(studio.get("/studio/results").text)
    row = re.search(r"<tr><td>Booking confirmation</td>(.*?)</tr>", page)
    assert row is not None
    assert re.findall(r">(\d+)<", row.group(1)) == ["1", "1", "0", "0"]
    confirmed = re.search(r'Confirmed \(replied "C"\)</td><td class="num">(\d+)', page)
    assert confirmed is not None
    assert confirmed.group(1) == "1"


def test_an_answer_waits_for_daytime_and_a_timeout_is_unknown_never_resent(studio, session, twilio):
    from tests.twilio_server import Scripted

    _book(session)
    tick(NOW + timedelta(seconds=1))  # the confirmation: the answer is not the first text
    night = NOW.replace(hour=22)  # 23:00 in Berlin
    with clock.frozen_at(night):
        form = {**_form(studio), "body": "Thanks, noted."}
        assert studio.post(THREAD + "/answer", form).status_code == 303
    tick(night + timedelta(minutes=1))
    session.expire_all()
    answer = session.scalar(select(Message).where(Message.template == "staff_reply"))
    assert answer is not None
    assert answer.status == MessageStatus.PENDING
    assert answer.due_at.astimezone(VISIT.tzinfo).hour == 8  # the morning, where Pat is
    twilio.state.script.append(Scripted(delay=4, accept=True))
    morning = answer.due_at + timedelta(seconds=1)
    tick(morning)
    tick(morning + timedelta(hours=1))
    session.refresh(answer)
    assert answer.status == MessageStatus.UNKNOWN
    assert answer.attempts == 1


def test_the_timeline_names_a_texts_status_report_and_twilios_error_code(studio, session, twilio):
    _book(session)
    tick(NOW + timedelta(seconds=1))
    [sent] = twilio.state.accepted
    url, form = twilio.state.status_callback(sent["sid"], "undelivered", error_code=30007)
    signature = twilio.state.signed(url, form)
    path = url.removeprefix("https://nurture.test")
    answer = studio.client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert answer.json() == {"result": "undelivered"}
    text = session.scalar(select(Message).where(Message.provider_message_id == sent["sid"]))
    assert text is not None
    page = html.unescape(studio.get(f"/studio/leads/{text.lead_id}").text)
    assert "Text not delivered (Twilio error 30007): Text: booking confirmation" in page
    assert "Text event" in page
