"""What stops what: which emails a suppressed address still gets. One rule, stated once.

- A hard bounce, an invalid address, a spam complaint or a staff block stops every email to
  the address: the mailbox is gone, or its owner said our mail is unwanted.
- An unsubscribe stops marketing only (sequences, broadcasts). The emails about a visit the
  patient booked (confirmation, reminders, changes) still go: they asked for the visit.
- A patient who asks to stop everything gets nothing at all, reminders included.
- An address with no mailbox behind it (Cal.com's stand-in for a phone-only booker) is never
  mailed.
"""

from __future__ import annotations

from nurture.outbox.models import Stream

# Suppression reasons that stop marketing and leave a booked visit's emails alone.
MARKETING_ONLY = frozenset({"unsubscribe"})
# The reason recorded when a patient asks, on the preferences page, to stop every email.
EVERYTHING = "everything"
# Cal.com's address for a booker who gave only a phone number.
PHONE_ONLY_DOMAIN = "sms.cal.com"


def is_phone_only(address: str | None) -> bool:
    """Tell whether an address stands in for a phone-only booker (no mailbox behind it)."""
    return bool(address) and str(address).strip().lower().endswith("@" + PHONE_ONLY_DOMAIN)


def stops(reason: str | None, *, stream: str, address: str | None = None) -> bool:
    """Tell whether an email of `stream` must not go to an address suppressed for `reason`."""
    if is_phone_only(address):
        return True
    if reason is None:
        return False
    if reason in MARKETING_ONLY:
        return stream == Stream.MARKETING
    return True


def why(reason: str | None, *, address: str | None = None) -> str:
    """Say, for the email's history, why a suppression stopped it."""
    if is_phone_only(address):
        return "the booker gave only a phone number: there is no mailbox to write to"
    if reason in MARKETING_ONLY:
        return "address unsubscribed from marketing"
    return f"address is suppressed ({reason})"
