"""Which channel sends: the one the settings choose."""

from __future__ import annotations

from nurture.core.config import Settings, get_settings
from nurture.delivery.channels.base import Backend, TextBackend
from nurture.delivery.channels.outbox import OutboxBackend, OutboxTextBackend
from nurture.delivery.channels.smtp import SMTPBackend


def get_backend(settings: Settings | None = None) -> Backend:
    """Return the backend the settings choose."""
    settings = settings or get_settings()
    backend = settings.resolved_email_backend
    if backend == "sendgrid":
        if settings.sendgrid_transport == "package":
            from nurture.delivery.channels.sendgrid_package import SendGridPackageBackend

            return SendGridPackageBackend(settings)
        from nurture.delivery.channels.sendgrid_api import SendGridBackend

        return SendGridBackend(settings)
    if backend == "smtp":
        return SMTPBackend(settings)
    return OutboxBackend(settings.resolved_outbox_dir)


def get_text_backend(settings: Settings | None = None) -> TextBackend:
    """Return where texts go: Twilio when its account is set, else the local outbox."""
    settings = settings or get_settings()
    if settings.resolved_text_backend == "twilio":
        from nurture.delivery.channels.twilio import TwilioBackend

        return TwilioBackend(settings)
    return OutboxTextBackend(settings.resolved_outbox_dir)
