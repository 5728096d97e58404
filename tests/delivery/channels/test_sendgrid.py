"""The sendgrid backend against the local SendGrid server, through the real client code."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest

from nurture.core.config import get_settings
from nurture.delivery.channels.base import (
    ACCOUNT_REFUSED,
    OutgoingEmail,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from nurture.delivery.channels.registry import get_backend
from tests.processes import wait_for
from tests.sendgrid_server import Scripted


@pytest.fixture(autouse=True, params=["pooled", "package"])
def transport(request, sendgrid, settings):  # type: ignore[no-untyped-def]
    """Run every test through both transports: pooled httpx and the package's own client."""
    settings(sendgrid_transport=request.param)
    return request.param


EMAIL = OutgoingEmail(
    to_email="pat@example.com",
    from_email="news@clinic.example",
    from_name="Clinic",
    subject="Hello",
    html="<p>Hello</p>",
    text="Hello\n",
    headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    custom_args={"nurture_message_id": "41"},
    categories=("marketing",),
)


def test_accepted_email_returns_message_id_and_payload_is_complete(sendgrid) -> None:
    backend = get_backend()
    assert backend.name.startswith("sendgrid")
    message_id = backend.send(EMAIL)
    assert len(message_id) >= 10
    [body] = sendgrid.state.accepted
    assert body["personalizations"][0]["to"] == [{"email": "pat@example.com"}]
    assert body["from"] == {"email": "news@clinic.example", "name": "Clinic"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert body["custom_args"] == {"nurture_message_id": "41"}
    assert body["categories"] == ["marketing"]


def test_a_wrong_key_is_the_clinics_to_fix_and_retried_with_the_providers_message(
    sendgrid, settings
) -> None:
    settings(sendgrid_api_key="SG.wrong")
    with pytest.raises(TransientError, match="401: .*authorization grant is invalid") as refused:
        get_backend().send(EMAIL)
    assert refused.value.reason == ACCOUNT_REFUSED
    assert sendgrid.state.accepted == []


def test_invalid_request_is_permanent_and_names_the_field(sendgrid) -> None:
    broken = OutgoingEmail(
        to_email="pat@example.com",
        from_email="not-an-address",
        from_name="Clinic",
        subject="Hello",
        html="<p>Hello</p>",
        text="Hello\n",
    )
    with pytest.raises(PermanentError, match=r"400: from\.email: The from object"):
        get_backend().send(broken)


def test_rate_limited_is_transient_until_reset(sendgrid) -> None:
    reset = int(time.time()) + 42
    sendgrid.state.script.append(
        Scripted(
            status=429,
            headers={
                "X-RateLimit-Limit": "600",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )
    )
    with pytest.raises(TransientError) as caught:
        get_backend().send(EMAIL)
    assert caught.value.retry_at == datetime.fromtimestamp(reset, UTC)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(sendgrid, status) -> None:
    sendgrid.state.script.append(Scripted(status=status))
    with pytest.raises(TransientError, match=str(status)):
        get_backend().send(EMAIL)
    assert sendgrid.state.accepted == []


def test_refused_connection_is_transient(settings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings(
        email_backend="sendgrid",
        sendgrid_api_key="SG.x",
        sendgrid_api_host=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(TransientError, match="could not reach SendGrid"):
        get_backend().send(EMAIL)


def test_timeout_after_sending_is_unknown(sendgrid, settings) -> None:
    settings(sendgrid_timeout_seconds="0.5")
    sendgrid.state.script.append(Scripted(delay=1.5, accept=True))
    with pytest.raises(UnknownOutcome):
        get_backend().send(EMAIL)
    # The server finishes storing after the client gave up: wait for that state.
    wait_for(lambda: sendgrid.state.accepted, timeout=60, what="the late acceptance")
    # The provider did take it: exactly why an unknown outcome must never be re-sent blindly.
    assert len(sendgrid.state.accepted) == 1


def test_sendgrid_key_selects_backend_by_default(settings) -> None:
    s = settings(sendgrid_api_key="SG.abc")
    assert s.resolved_email_backend == "sendgrid"
    assert get_settings().resolved_email_backend == "sendgrid"
