"""Test sends ("proofs") of a step to a staff member, outside the outbox and the results."""

from __future__ import annotations

from nurture.clinic import service as clinic
from nurture.core.config import get_settings
from nurture.delivery.channels.base import OutgoingEmail
from nurture.delivery.channels.registry import get_backend
from nurture.rendering.environment import RenderedEmail

TEST_HEADER = "X-Nurture-Test"


def send_proof(rendered: RenderedEmail, *, to_email: str) -> str:
    """Send a rendered step to `to_email` now, marked as a test; return the provider's id.

    A proof has no outbox row and carries no message id for provider events, so it is
    never counted in results; its links point at a sample lead that does not exist.
    """
    s = get_settings()
    email = OutgoingEmail(
        to_email=to_email,
        from_email=s.marketing_from_email,
        from_name=clinic.effective().marketing_from_name,
        subject=f"[Test] {rendered.subject}",
        html=rendered.html,
        text=rendered.text,
        headers={TEST_HEADER: "true"},
        categories=("test",),
    )
    return get_backend(s).send(email)
