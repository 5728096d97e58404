"""The MIME messages the outbox and SMTP backends build keep every body line within RFC 2045."""

from __future__ import annotations

import dataclasses
from email import message_from_bytes, policy

from nurture.delivery.channels.base import Attachment
from nurture.delivery.channels.mime import build_mime
from nurture.messages.preview import all_samples
from tests.delivery.test_spam_score import outgoing


def _body_lines(data: bytes) -> list[bytes]:
    """The encoded lines of every part (header fields, such as a boundary, are not body)."""
    parsed = message_from_bytes(data, policy=policy.SMTP)
    lines: list[bytes] = []
    for part in parsed.walk():
        if not part.is_multipart():
            lines += str(part.get_payload()).encode().split(b"\n")
    return [line.rstrip(b"\r") for line in lines]


def _lf(content: str) -> str:
    return content.replace("\r\n", "\n").rstrip("\n")


def test_every_shipped_email_has_body_lines_of_76_at_most() -> None:
    long_lines = {}
    for sample in all_samples():
        email = outgoing(sample)
        data = bytes(build_mime(email, "<a@nurture.local>"))
        widest = max(len(line) for line in _body_lines(data))
        if widest > 76:
            long_lines[sample.name] = widest
        # What a mail program decodes is what was rendered.
        parsed = message_from_bytes(data, policy=policy.default)
        html = parsed.get_body(preferencelist=("html",))
        text = parsed.get_body(preferencelist=("plain",))
        assert html is not None
        assert text is not None
        assert _lf(html.get_content()) == _lf(email.html)
        assert _lf(text.get_content()) == _lf(email.text)
    assert long_lines == {}


def test_attachments_and_long_unbroken_bodies_stay_within_76() -> None:
    sample = next(iter(all_samples()))
    email = outgoing(sample)
    email = dataclasses.replace(
        email,
        html="<p>" + "é" * 3000 + "</p>",
        text="a" * 3000,
        attachments=(Attachment("visit.ics", b"x" * 3000, "text/calendar"),),
    )
    data = bytes(build_mime(email, "<a@nurture.local>"))
    assert max(len(line) for line in _body_lines(data)) <= 76
    assert data.count(b"MIME-Version: 1.0") == 1
