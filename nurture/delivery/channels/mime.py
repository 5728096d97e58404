"""A standard MIME message built from a prepared email, for the outbox and SMTP channels."""

from __future__ import annotations

from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from nurture.core import clock
from nurture.delivery import headers
from nurture.delivery.channels.base import OutgoingEmail, checked

_MIME_POLICY = policy.SMTP.clone(max_line_length=998)
# Body parts are built apart from the message under this policy: the email package cuts
# quoted-printable and base64 lines to the part's policy, and the message's 998 would make
# lines of ~996 characters (RFC 2045 allows 76, and spam filters score longer ones).
_PART_POLICY = policy.SMTP.clone(max_line_length=76)


def build_mime(email: OutgoingEmail, message_id: str) -> EmailMessage:
    """Build a standard multipart/alternative message (text first, then HTML).

    Raises UnsafeHeader (a ValueError) rather than build a message with a header it was not
    asked for.
    """
    email = checked(email)
    # Long tokens in List-Unsubscribe must not be folded into encoded words; RFC 5322 allows
    # lines up to 998 characters.
    msg = EmailMessage(policy=_MIME_POLICY)
    msg["From"] = Address(display_name=email.from_name, addr_spec=email.from_email)
    msg["To"] = email.to_email
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = message_id
    if email.reply_to:
        msg["Reply-To"] = email.reply_to
    for name, value in email.headers.items():
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    msg.make_alternative()
    for body, subtype in ((email.text, "plain"), (email.html, "html")):
        part = EmailMessage(policy=_PART_POLICY)
        part.set_content(body, subtype=subtype)
        del part["MIME-Version"]  # the message says it once, at the top
        msg.attach(part)
    if email.attachments:
        msg.make_mixed()
    for item in email.attachments:
        kind, _, params = item.mime_type.partition(";")
        maintype, _, subtype = kind.strip().partition("/")
        extra = dict(p.strip().split("=", 1) for p in params.split(";") if "=" in p)
        part = EmailMessage(policy=_PART_POLICY)
        part.set_content(
            item.content, maintype=maintype, subtype=subtype, filename=item.filename, params=extra
        )
        del part["MIME-Version"]
        msg.attach(part)
    # Whatever the email package (which differs between Python releases) made of the values,
    # the header block must hold exactly the fields set above.
    headers.check_lines(msg.as_bytes(), msg.keys())
    return msg
