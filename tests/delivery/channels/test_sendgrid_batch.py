"""Many emails per SendGrid request, against the local SendGrid server, both transports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nurture.delivery.channels import sendgrid_batch
from nurture.delivery.channels.base import (
    OutgoingEmail,
    PermanentError,
    Sent,
    SharedBody,
    UnknownOutcome,
)
from nurture.delivery.channels.registry import get_backend
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
