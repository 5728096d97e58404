"""The outbox channel: each email becomes an .eml file in a private folder (the default)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from concurrent.futures import Executor
from email.utils import make_msgid
from pathlib import Path

from nurture.core import clock
from nurture.core.private_files import private_dir, private_opener
from nurture.delivery.channels.base import (
    Backend,
    DeliveryError,
    OutgoingEmail,
    OutgoingText,
    SendOutcome,
    Sent,
    UnknownOutcome,
    build_failed,
)
from nurture.delivery.channels.mime import build_mime


class OutboxBackend(Backend):
    """Writes each email as an .eml file a person can open (the embedded default)."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, email: OutgoingEmail) -> str:
        """Write the email atomically to `<directory>/<time>-<id>.eml`."""
        message_id = self._write(email)
        _sync_directory(self.directory)
        return message_id

    def send_batch(
        self, emails: Sequence[OutgoingEmail], *, pool: Executor | None = None
    ) -> list[SendOutcome]:
        """Write every email of the batch, then make their names durable with one sync."""
        outcomes: list[SendOutcome] = []
        for email in emails:
            try:
                outcomes.append(Sent(self._write(email)))
            except DeliveryError as exc:
                outcomes.append(exc)
            except Exception as exc:  # noqa: BLE001 - as send_one: one file's failure is its own
                outcomes.append(UnknownOutcome(f"the outbox raised {type(exc).__name__}: {exc}"))
        if any(isinstance(o, Sent) for o in outcomes):
            _sync_directory(self.directory)
        return outcomes

    def _write(self, email: OutgoingEmail) -> str:
        message_id = make_msgid(domain="nurture.local")
        try:
            data = bytes(build_mime(email, message_id))
        except Exception as exc:  # noqa: BLE001 - nothing was written; this email fails alone
            raise build_failed(exc) from exc
        private_dir(self.directory)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        final = self.directory / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
        partial = final.with_suffix(".eml.part")
        with open(partial, "wb", opener=private_opener) as fh:  # an email to a patient
            fh.write(data)
        os.replace(partial, final)
        return message_id


def _sync_directory(directory: Path) -> None:
    """Flush the folder's entries (the renames) to disk: once per batch, not once per file."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OutboxTextBackend:
    """Writes each text as a .txt file in the outbox's `texts` folder, where a person reads it."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "texts"

    def send_text(self, text: OutgoingText) -> str:
        """Write the text atomically to `<outbox>/texts/<time>-<id>.txt`; return its id."""
        message_id = f"outbox-{uuid.uuid4().hex}"
        private_dir(self.directory)
        stamp = clock.now().strftime("%Y%m%dT%H%M%S%fZ")
        final = self.directory / f"{stamp}-{message_id[7:19]}.txt"
        partial = final.with_suffix(".txt.part")
        data = f"To: {text.to_phone}\nId: {message_id}\n\n{text.body}\n".encode()
        with open(partial, "wb", opener=private_opener) as fh:  # a text to a patient
            fh.write(data)
        os.replace(partial, final)
        return message_id
