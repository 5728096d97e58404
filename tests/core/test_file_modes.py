"""Patient data on disk is readable by the service's own user only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import text

from nurture.core.broker_files import Transport
from nurture.core.db import make_engine
from nurture.core.keyfile import load_or_create
from nurture.core.served_url import record
from nurture.delivery.channels.base import OutgoingEmail
from nurture.delivery.channels.outbox import OutboxBackend

EMAIL = OutgoingEmail(
    to_email="pat@example.com",
    from_email="appointments@clinic.example",
    from_name="Clinic",
    subject="Your visit",
    html="<p>See you soon</p>",
    text="See you soon\n",
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The common default, under which plain creation makes files other users can read."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nurture.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE patients (name TEXT)"))
            conn.execute(text("INSERT INTO patients VALUES ('Pat')"))
        wal = path.with_name("nurture.db-wal")
        assert wal.exists()
        assert (_mode(path), _mode(wal)) == (0o600, 0o600)
        assert _mode(path.parent) == 0o700
    finally:
        engine.dispose()


def test_an_existing_database_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "nurture.db"
    for _ in range(2):  # the second engine opens the file the first one made
        engine = make_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        engine.dispose()
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()


def test_outbox_emails_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "outbox"
    OutboxBackend(folder).send(EMAIL)
    [eml] = folder.glob("*.eml")
    assert _mode(eml) == 0o600
    assert _mode(folder) == 0o700


def test_broker_messages_are_private(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    options = {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "control_folder": str(queue),
        "store_processed": False,
    }
    with Connection("filesystem://", transport=Transport, transport_options=options) as c:
        c.default_channel._put("q", {"body": "lead 1"})
    [message] = queue.glob("*.msg")
    assert _mode(message) == 0o600


def test_the_data_directory_is_created_private(tmp_path: Path) -> None:
    load_or_create(tmp_path / "keyed")
    record(tmp_path / "served", "http://127.0.0.1:8000")
    assert _mode(tmp_path / "keyed") == 0o700
    assert _mode(tmp_path / "served") == 0o700
    assert _mode(tmp_path / "served" / "base_url") == 0o600
