"""Many emails per SendGrid request, against the local SendGrid server, both transports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from nurture.core import clock
from nurture.delivery import service
from nurture.delivery.channels import sendgrid_batch
from nurture.delivery.channels.base import (
    OutgoingEmail,
    PermanentError,
    Sent,
    SharedBody,
    UnknownOutcome,
)
from nurture.delivery.channels.registry import get_backend
from nurture.enrollments import service as enrollments
from nurture.outbox.models import Message, MessageStatus
from tests.factories import make_lead
from tests.processes import wait_for
from tests.sendgrid_server import Scripted

SHARED = SharedBody(html="<p>Hi %n-first%</p>", text="Hi %n-first%\n")


@pytest.fixture(autouse=True, params=["pooled", "package"])
def transport(request, sendgrid, settings):  # type: ignore[no-untyped-def]
    settings(sendgrid_transport=request.param, sendgrid_batch_size="3")
    return request.param


def _email(i: int, name: str = "Pat") -> OutgoingEmail:
    return OutgoingEmail(
        to_email=f"p{i}@example.com",
        from_email="news@clinic.example",
        from_name="Clinic",
        subject=f"Hello {name}",
        html=f"<p>Hi {name}</p>",
        text=f"Hi {name}\n",
        headers={"List-Unsubscribe": f"<https://c.example/u/{i}>"},
        custom_args={"nurture_message_id": str(i)},
        shared=SHARED,
        substitutions={"%n-first%": name},
    )


def test_shared_bodies_go_many_to_a_request_each_email_its_own(sendgrid) -> None:
    emails = [_email(i, f"N{i}") for i in range(7)]
    outcomes = get_backend().send_batch(emails)
    assert all(isinstance(o, Sent) for o in outcomes)
    # At most 3 per request (the setting), one personalization per email.
    assert sorted(len(b["personalizations"]) for b in sendgrid.state.accepted) == [1, 3, 3]
    got = {e["custom_args"]["nurture_message_id"]: e for e in sendgrid.state.emails()}
    assert sorted(got) == [str(i) for i in range(7)]
    for i in range(7):
        email = got[str(i)]
        assert email["to"] == [{"email": f"p{i}@example.com"}]
        assert email["subject"] == f"Hello N{i}"
        assert email["headers"]["List-Unsubscribe"] == f"<https://c.example/u/{i}>"
        assert [c["value"] for c in email["content"]] == [f"Hi N{i}\n", f"<p>Hi N{i}</p>"]


def test_a_400_naming_one_fails_it_and_sends_the_others_once(sendgrid) -> None:
    emails = [_email(0), replace(_email(1), to_email="p0@example.com"), _email(2)]
    outcomes = get_backend().send_batch(emails)
    # The plan never names an address twice in one request: the repeat goes in another.
    assert all(isinstance(o, Sent) for o in outcomes)
    # A refusal the plan cannot foresee: the server names the second personalization.
    sendgrid.state.accepted.clear()
    refusal = {"errors": [{"field": "personalizations.1.to.0.email", "message": "bad address"}]}
    sendgrid.state.script.append(Scripted(status=400, body=refusal))
    outcomes = get_backend().send_batch([_email(3), _email(4), _email(5)])
    assert isinstance(outcomes[1], PermanentError)
    assert "bad address" in str(outcomes[1])
    assert isinstance(outcomes[0], Sent)
    assert isinstance(outcomes[2], Sent)
    assert sorted(sendgrid.state.custom_ids()) == ["3", "5"]


def test_timeout_after_sending_leaves_every_row_of_the_request_unknown(sendgrid, settings) -> None:
    settings(sendgrid_timeout_seconds="0.5")
    sendgrid.state.script.append(Scripted(delay=1.5, accept=True))
    outcomes = get_backend().send_batch([_email(i) for i in range(3)])
    assert all(isinstance(o, UnknownOutcome) for o in outcomes)
    wait_for(lambda: sendgrid.state.accepted, timeout=60, what="the late acceptance")
    assert sorted(sendgrid.state.custom_ids()) == ["0", "1", "2"]


def test_server_refuses_what_sendgrid_refuses(sendgrid) -> None:
    too_many = [_email(i) for i in range(sendgrid_batch.MAX_PERSONALIZATIONS + 1)]
    body = sendgrid_batch.payload(too_many)
    backend = get_backend()
    answer = backend.post(body)  # type: ignore[attr-defined]
    assert answer.status == 400
    assert b"limited to 1000 personalizations" in answer.body
    big = replace(_email(0), custom_args={"nurture_message_id": "0", "x": "y" * 10_000})
    answer = backend.post(sendgrid_batch.payload([big, _email(1)]))  # type: ignore[attr-defined]
    assert answer.status == 400
    assert b"personalizations.0.custom_args" in answer.body
    # The transport sends such an email in a request of its own, where it fails alone.
    assert sendgrid_batch.plan([big, _email(1)]) == ([[1]], [0])
    assert sendgrid.state.accepted == []


@pytest.mark.usefixtures("sequences_loaded")
def test_a_steps_due_emails_go_many_to_a_request_through_the_engine(session, sendgrid) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # a Monday, inside the send window
    for i, name in enumerate(["Robin", "Sam", "Ana", "Kim"]):
        lead = make_lead(session, email_address=f"b{i}@example.com", first_name=name)
        enrollments.enroll(session, lead=lead, now=now)
    session.commit()
    with clock.frozen_at(now):
        service.tick(dispatch=lambda ids: service.deliver_batch(ids, backend=get_backend()))
    # Four people, one step: requests of at most 3 (the setting), one email each.
    assert sorted(len(b["personalizations"]) for b in sendgrid.state.accepted) == [1, 3]
    sent = session.scalars(select(Message).where(Message.status == MessageStatus.SENT)).all()
    assert sorted(sendgrid.state.custom_ids()) == sorted(str(m.id) for m in sent)
    by_address = {e["to"][0]["email"]: e for e in sendgrid.state.emails()}
    for i, name in enumerate(["Robin", "Sam", "Ana", "Kim"]):
        email = by_address[f"b{i}@example.com"]
        assert name in email["subject"]
        assert f"Hi {name}" in email["content"][0]["value"]
        assert "%nurture" not in email["content"][1]["value"]
