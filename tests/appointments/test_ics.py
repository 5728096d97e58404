"""Calendar files as patients' calendars receive them: read back by `ics` (a parser independent
of icalendar, which writes them) from the real outbox, SMTP and SendGrid payloads."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ics
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from alembic import command
from ics.grammar.parse import Container, ContentLine, string_to_container

from nurture.appointments import service as appointments
from nurture.appointments.models import Appointment
from nurture.appointments.schemas import AppointmentIn, AppointmentPatch
from nurture.core import clock
from nurture.core.config import get_settings
from nurture.core.migrate import alembic_config
from nurture.delivery import service
from nurture.delivery.channels.registry import get_backend
from tests.factories import outbox_messages
from tests.processes import free_port

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)  # a Monday
VISIT = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # Friday 10:00, winter time (UTC+1)
MOVED = datetime(2026, 4, 2, 9, 15, tzinfo=BERLIN)  # after the spring change (UTC+2)
UUID_UID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}@nurture$"
)


class Sent:
    """One calendar attachment as a mail client meets it."""

    def __init__(self, message: EmailMessage) -> None:
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "text/calendar"
        assert attachment.get_filename() == "appointment.ics"
        self.subject = str(message["Subject"])
        self.mime_method = attachment.get_param("method")
        self.cte = attachment["Content-Transfer-Encoding"]
        self.encoded_lines = attachment.get_payload().splitlines()
        self.raw = attachment.get_payload(decode=True)
        self.text = self.raw.decode()
        calendar = ics.Calendar(self.text)
        [self.event] = list(calendar.events)
        self.method = calendar.method
        self.uid = self.event.uid
        self.start = self.event.begin.datetime
        self.sequence = int(next(x.value for x in self.event.extra if x.name == "SEQUENCE"))
        self.attendees = self.event.attendees
        self.lines = _event_lines(self.text)


def _event_lines(text: str) -> dict[str, ContentLine]:
    [vcalendar] = string_to_container(text)
    [vevent] = [c for c in vcalendar if isinstance(c, Container) and c.name == "VEVENT"]
    return {line.name: line for line in vevent if isinstance(line, ContentLine)}


def _book(session: Any, *, starts_at: datetime = VISIT) -> Appointment:
    data = AppointmentIn(
        email="pat@example.com",
        first_name="Pat",
        starts_at=starts_at,
        timezone="Europe/Berlin",
        duration_minutes=45,
        location="Room 2, 123 Example Street",
    )
    appointment = appointments.book(session, data=data, now=NOW).appointment
    session.commit()
    return appointment


def _tick(at: datetime) -> None:
    with clock.frozen_at(at):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))


def _outbox(prefix: str) -> list[Sent]:
    found = outbox_messages(get_settings().resolved_outbox_dir)
    return [Sent(m) for m in found if str(m["Subject"]).startswith(prefix)]


def test_booking_move_and_cancel_keep_one_uid_and_raise_the_sequence(session) -> None:
    appointment = _book(session)
    _tick(NOW)
    [booked] = _outbox("Booked:")
    # Nothing in it asks for a reply the clinic would never read.
    assert booked.method == booked.mime_method == "PUBLISH"
    assert booked.attendees == set()
    assert "RSVP" not in booked.text
    assert booked.uid == appointment.calendar_uid
    assert UUID_UID.match(booked.uid), booked.uid
    assert booked.sequence == 0
    # The start is the visit's wall-clock time in its named zone, which the file defines.
    assert booked.lines["DTSTART"].params == {"TZID": ["Europe/Berlin"]}
    assert booked.lines["DTSTART"].value == "20260327T100000"
    assert "TZID:Europe/Berlin" in booked.text  # the VTIMEZONE a client resolves it with
    assert booked.start == VISIT
    assert booked.start.utcoffset() == timedelta(hours=1)
    assert booked.lines["DTSTAMP"].value.endswith("Z")

    moved_at = NOW + timedelta(hours=1)
    appointments.reschedule(
        session, appointment=appointment, patch=AppointmentPatch(starts_at=MOVED), now=moved_at
    )
    session.commit()
    _tick(moved_at)
    [update] = _outbox("Your visit has moved")
    assert update.method == update.mime_method == "PUBLISH"
    assert update.uid == booked.uid
    assert update.sequence == 1
    assert update.start == MOVED
    assert update.start.utcoffset() == timedelta(hours=2)  # summer time by then
    assert update.lines["DTSTART"].params == {"TZID": ["Europe/Berlin"]}

    cancelled_at = NOW + timedelta(hours=2)
    appointments.cancel(session, appointment=appointment, now=cancelled_at)
    session.commit()
    _tick(cancelled_at)
    [cancel] = _outbox("Your visit on")
    assert cancel.method == cancel.mime_method == "CANCEL"
    assert cancel.uid == booked.uid
    assert cancel.sequence == 2
    assert cancel.event.status == "CANCELLED"
    # iTIP's CANCEL names the attendee it removes; it still asks for no reply.
    [attendee] = cancel.attendees
    assert attendee.email == "pat@example.com"
    assert cancel.lines["ATTENDEE"].params.get("RSVP") == ["FALSE"]


def test_uid_survives_a_change_of_base_url(session, settings) -> None:
    settings(base_url="https://old-host.example")
    appointment = _book(session)
    _tick(NOW)
    [before] = _outbox("Booked:")
    settings(base_url="https://new-host.example")
    appointments.reschedule(
        session, appointment=appointment, patch=AppointmentPatch(starts_at=MOVED), now=NOW
    )
    session.commit()
    _tick(NOW)
    [after] = _outbox("Your visit has moved")
    assert after.uid == before.uid
    assert "host" not in after.uid
    assert after.sequence == before.sequence + 1


def test_every_visit_gets_its_own_random_uid(session) -> None:
    first = _book(session)
    second = _book(session, starts_at=VISIT + timedelta(days=1))
    assert first.calendar_uid != second.calendar_uid
    assert UUID_UID.match(first.calendar_uid)


def test_outbox_attachment_is_base64_in_76_character_lines(session) -> None:
    _book(session)
    _tick(NOW)
    [booked] = _outbox("Booked:")
    assert booked.cte == "base64"
    assert len(booked.encoded_lines) > 1  # long enough to wrap at all
    assert max(len(line) for line in booked.encoded_lines) <= 76
    assert len(booked.encoded_lines[0]) == 76
    assert base64.b64decode("".join(booked.encoded_lines)) == booked.raw


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.original_content)
        return "250 Message accepted"


def test_smtp_attachment_is_base64_in_76_character_lines(session, settings) -> None:
    inbox = _Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings(email_backend="smtp", smtp_host="127.0.0.1", smtp_port=str(port))
        _book(session)
        _tick(NOW)
    finally:
        controller.stop()
    [raw] = [m for m in inbox.messages if b"text/calendar" in m]
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    sent = Sent(parsed)
    assert sent.method == sent.mime_method == "PUBLISH"
    assert max(len(line) for line in sent.encoded_lines) <= 76
    # and nothing anywhere in the message breaks RFC 5322's limit
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_sendgrid_attachment_carries_the_same_calendar(session, sendgrid) -> None:
    appointment = _book(session)
    _tick(NOW)
    [payload] = [p for p in sendgrid.state.accepted if p.get("attachments")]
    [attachment] = payload["attachments"]
    assert attachment["type"] == "text/calendar; method=PUBLISH"
    assert attachment["disposition"] == "attachment"
    calendar = ics.Calendar(base64.b64decode(attachment["content"]).decode())
    assert calendar.method == "PUBLISH"
    [event] = list(calendar.events)
    assert event.uid == appointment.calendar_uid
    assert event.begin.datetime == VISIT


def test_migration_keeps_the_uid_existing_visits_were_sent_with(tmp_path: Path, settings) -> None:
    settings(base_url="https://clinic.example:8443/nurture")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0011")
            stamp = "2026-03-23 09:00:00.000000"
            connection.execute(
                sa.text(
                    "INSERT INTO leads (id, email, first_name, numbness_type, status,"
                    " created_at, token_version) VALUES (1, 'pat@example.com', 'Pat', 'chronic',"
                    " 'active', :at, 0)"
                ),
                {"at": stamp},
            )
            for visit_id in (7, 8):
                connection.execute(
                    sa.text(
                        "INSERT INTO appointments (id, lead_id, starts_at, duration_minutes,"
                        " timezone, location, status, revision, created_at, updated_at)"
                        " VALUES (:id, 1, :at, 30, 'Europe/Berlin', '', 'booked', 0, :at, :at)"
                    ),
                    {"id": visit_id, "at": stamp},
                )
            command.upgrade(cfg, "0012")
            uids = connection.execute(
                sa.text("SELECT id, calendar_uid FROM appointments ORDER BY id")
            ).all()
            # Exactly what the base URL's host made of them before: the calendars that hold
            # these events keep matching later updates, whatever the base URL becomes.
            assert [tuple(r) for r in uids] == [
                (7, "appointment-7@clinic.example"),
                (8, "appointment-8@clinic.example"),
            ]
            with pytest.raises(sa.exc.IntegrityError):
                with connection.begin_nested():
                    connection.execute(
                        sa.text("UPDATE appointments SET calendar_uid = NULL WHERE id = 7")
                    )
            command.downgrade(cfg, "0011")
    finally:
        engine.dispose()
