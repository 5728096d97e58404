"""Many emails in one SendGrid Mail Send request: one personalization per email.

Emails rendered from the same form (delivery/forms.py) share their body parts; each one's
recipient, subject, headers (its own one-click unsubscribe link), custom_args (its outbox
id) and substitutions (its name and links) go in its own personalization. `plan` splits a
batch into requests within SendGrid's documented limits; the transport picks the size.

SendGrid takes or refuses a request whole: a 400 means none of it was sent. When its errors
name personalizations, those emails fail and the rest are sent again without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nurture.delivery.channels.base import OutgoingEmail, SharedBody

# SendGrid's limits for v3 Mail Send (its "Limitations" and "Errors" pages).
MAX_PERSONALIZATIONS = 1000  # also the limit on recipients (to + cc + bcc) per request
MAX_REQUEST_BYTES = 30 * 1000 * 1000  # "the total size of your email ... less than 30MB"
MAX_CUSTOM_ARGS_BYTES = 10_000  # custom arguments of one email, message level included
MAX_SUBSTITUTION_BYTES = 10_000  # substitutions of one personalization, all together
MAX_SUBSTITUTIONS = 100
# A request is closed well below the size limit: what is counted here is an estimate.
REQUEST_BYTES_BUDGET = MAX_REQUEST_BYTES // 2

_NAMED = re.compile(r"^personalizations\.(\d+)\b")


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def personalization(email: OutgoingEmail) -> dict[str, Any]:
    """The part of a request that is this email's alone."""
    item: dict[str, Any] = {"to": [{"email": email.to_email}], "subject": email.subject}
    if email.headers:
        item["headers"] = dict(email.headers)
    if email.custom_args:
        item["custom_args"] = dict(email.custom_args)
    if email.substitutions:
        item["substitutions"] = dict(email.substitutions)
    return item


def fits_alone(email: OutgoingEmail) -> bool:
    """Whether the email's own part is within SendGrid's per-personalization limits."""
    return (
        _size(email.custom_args) < MAX_CUSTOM_ARGS_BYTES
        and _size(email.substitutions) < MAX_SUBSTITUTION_BYTES
        and len(email.substitutions) <= MAX_SUBSTITUTIONS
    )


def _shape(email: OutgoingEmail) -> tuple[Any, ...] | None:
    """What must be the same for emails to share a request; None: it goes alone."""
    if email.shared is None or email.attachments or not fits_alone(email):
        return None
    return (
        id(email.shared),
        email.from_email,
        email.from_name,
        email.reply_to,
        email.categories,
        email.track_opens,
        email.track_clicks,
    )


@dataclass(slots=True)
class Request:
    """Emails (by their index in the batch) that go in one request."""

    indexes: list[int]
    size: int
    addresses: set[str]


def plan(
    emails: Sequence[OutgoingEmail], *, per_request: int = MAX_PERSONALIZATIONS
) -> tuple[list[list[int]], list[int]]:
    """Split a batch into requests of shared-body emails, and the indexes that go alone."""
    per_request = max(1, min(per_request, MAX_PERSONALIZATIONS))
    open_requests: dict[tuple[Any, ...], Request] = {}
    requests: list[list[int]] = []
    alone: list[int] = []
    for i, email in enumerate(emails):
        shape = _shape(email)
        if shape is None:
            alone.append(i)
            continue
        size = _size(personalization(email))
        current = open_requests.get(shape)
        address = email.to_email.lower()
        # SendGrid refuses a request that names the same address twice.
        if current is not None and (
            len(current.indexes) >= per_request
            or current.size + size > REQUEST_BYTES_BUDGET
            or address in current.addresses
        ):
            requests.append(current.indexes)
            current = None
        if current is None:
            assert email.shared is not None
            base = len(email.shared.html.encode()) + len(email.shared.text.encode()) + 1024
            current = open_requests[shape] = Request([], base, set())
        current.indexes.append(i)
        current.size += size
        current.addresses.add(address)
    requests += [r.indexes for r in open_requests.values()]
    return requests, alone


def payload(emails: Sequence[OutgoingEmail]) -> dict[str, Any]:
    """The Mail Send body for emails that share their body parts (and sender, and tracking)."""
    first = emails[0]
    shared: SharedBody | None = first.shared
    assert shared is not None
    body: dict[str, Any] = {
        "from": {"name": first.from_name, "email": first.from_email},
        "personalizations": [personalization(e) for e in emails],
        "content": [
            {"type": "text/plain", "value": shared.text},
            {"type": "text/html", "value": shared.html},
        ],
        "tracking_settings": {
            "click_tracking": {"enable": first.track_clicks, "enable_text": first.track_clicks},
            "open_tracking": {"enable": first.track_opens},
        },
    }
    if first.categories:
        body["categories"] = list(first.categories)
    if first.reply_to:
        body["reply_to"] = {"email": first.reply_to}
    return body


def named_personalizations(body: Any) -> dict[int, str]:
    """The personalizations a 400's errors name, each with what SendGrid said of it."""
    try:
        data = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        errors = data.get("errors", [])
    except (ValueError, AttributeError, TypeError):
        return {}
    named: dict[int, str] = {}
    for error in errors if isinstance(errors, list) else []:
        found = _NAMED.match(str(error.get("field") or "")) if isinstance(error, dict) else None
        if found:
            named[int(found.group(1))] = f"{error.get('field')}: {error.get('message')}"
    return named
