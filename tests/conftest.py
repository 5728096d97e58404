"""Test setup: a real database (SQLite file, or a fresh PostgreSQL database) and real broker.

`NURTURE_DATABASE_URL` / `NURTURE_BROKER_URL` switch the whole suite to PostgreSQL and Redis.
A configured service that does not answer fails the run; nothing is skipped for it.
`NURTURE_TEST_REQUIRE=postgresql,redis` (set by CI) fails the run unless both are configured.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="nurture-tests-"))
for _name in [n for n in os.environ if n.startswith("NURTURE_")]:
    if _name not in ("NURTURE_DATABASE_URL", "NURTURE_BROKER_URL", "NURTURE_TEST_REQUIRE"):
        del os.environ[_name]
os.environ["NURTURE_DATA_DIR"] = str(_TMP / "data")
os.environ["NURTURE_SECRET_KEY"] = "test-secret-key-that-is-long-enough-0123456789"
os.environ["NURTURE_BASE_URL"] = "https://nurture.test"
# Tests sign up and sign in many times from one client; the limits are tested on their own.
os.environ["NURTURE_SIGNUP_RATE_PER_IP"] = "10000/minute"
os.environ["NURTURE_SIGNUP_RATE_PER_ADDRESS"] = "10000/minute"
os.environ["NURTURE_STUDIO_SIGNIN_RATE_PER_IP"] = "10000/minute"

_ADMIN_URL = os.environ.get("NURTURE_DATABASE_URL")
_TEST_DB: str | None = None


def _fail(message: str) -> None:
    pytest.exit(message, returncode=3)


def _prepare_services() -> None:
    global _TEST_DB
    required = {s.strip() for s in os.environ.get("NURTURE_TEST_REQUIRE", "").split(",") if s}
    if "postgresql" in required and not (_ADMIN_URL or "").startswith("postgresql"):
        _fail("NURTURE_TEST_REQUIRE asks for PostgreSQL but NURTURE_DATABASE_URL is not set to it")
    broker = os.environ.get("NURTURE_BROKER_URL", "")
    if "redis" in required and not broker.startswith("redis"):
        _fail("NURTURE_TEST_REQUIRE asks for Redis but NURTURE_BROKER_URL is not set to it")
    if _ADMIN_URL:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                _TEST_DB = f"nurture_test_{uuid.uuid4().hex[:10]}"
                conn.execute(text(f'CREATE DATABASE "{_TEST_DB}"'))
        except Exception as exc:  # noqa: BLE001 - report any connection failure plainly
            _fail(f"PostgreSQL at NURTURE_DATABASE_URL is not reachable: {exc}")
        finally:
            admin.dispose()
        url = make_url(_ADMIN_URL).set(database=_TEST_DB)
        os.environ["NURTURE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    if broker.startswith("redis"):
        import redis

        try:
            client = redis.Redis.from_url(broker, socket_timeout=3)
            client.ping()
            client.flushdb()
        except Exception as exc:  # noqa: BLE001
            _fail(f"Redis at NURTURE_BROKER_URL is not reachable: {exc}")


def pytest_configure(config: pytest.Config) -> None:
    """Create the test database and check the broker before any test imports settings."""
    if not hasattr(config, "workerinput"):
        _prepare_services()
    from nurture.core.config import reset_settings
    from nurture.core.migrate import upgrade

    reset_settings()
    upgrade()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the per-run PostgreSQL database and the temporary folder."""
    from nurture.core.db import dispose_engines

    dispose_engines()
    if _TEST_DB and _ADMIN_URL:
        from sqlalchemy import create_engine, text

        admin = create_engine(_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{_TEST_DB}" WITH (FORCE)'))
        admin.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database and broker this run uses."""
    from nurture.core.config import get_settings

    s = get_settings()
    return f"nurture: database={s.resolved_database_url} broker={s.resolved_broker_url}"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Hash staff passwords with argon2's cheapest profile inside the test process.

    The suite makes and signs in hundreds of staff accounts, at 0.17 s of argon2 each with the
    real cost. Servers started as child processes keep the real cost (and upgrade these hashes
    on sign-in, as they would an old hash); the cost itself is argon2-cffi's default profile.
    """
    from argon2 import PasswordHasher, profiles

    from nurture.studio import auth

    saved = auth._hasher, auth._DUMMY_HASH
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    auth._hasher, auth._DUMMY_HASH = cheap, cheap.hash("no such account")
    yield
    auth._hasher, auth._DUMMY_HASH = saved


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    """Give every test empty tables, an empty outbox and default settings."""
    from nurture.core.config import get_settings, reset_settings

    yield
    from nurture.core.db import get_engine
    from nurture.leads import throttle
    from nurture.models import Base

    throttle.reset()
    reset_settings()
    with get_engine().begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    shutil.rmtree(get_settings().resolved_outbox_dir, ignore_errors=True)
    _empty_broker()


def _empty_broker() -> None:
    """Drop the tasks a test queued and nobody ran, as the tables are emptied.

    Left in place they piled up (226 by the middle of the suite) and the next test that started
    a worker ran them all first: the large-import test took 118 s instead of 5.
    """
    from nurture.core.config import get_settings

    settings = get_settings()
    broker = settings.resolved_broker_url
    if broker.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker)
        try:
            # Queues and unacknowledged sets go; kombu's bindings stay, since this process's
            # producer declared them once and would route later tasks nowhere without them.
            stale = [k for k in client.scan_iter() if not k.startswith(b"_kombu.binding.")]
            if stale:
                client.delete(*stale)
        finally:
            client.close()
    else:
        queue = settings.broker_folder / "queue"
        for message in queue.glob("*") if queue.is_dir() else ():
            message.unlink(missing_ok=True)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Return a function that sets NURTURE_* variables and reloads the settings."""
    from nurture.core.config import get_settings, reset_settings

    def apply(**values: str):  # type: ignore[no-untyped-def]
        for key, value in values.items():
            monkeypatch.setenv(f"NURTURE_{key.upper()}", value)
        reset_settings()
        return get_settings()

    return apply


@pytest.fixture
def session():  # type: ignore[no-untyped-def]
    """Yield a database session (tests commit; the autouse fixture empties the tables)."""
    from nurture.core.db import session_factory

    s = session_factory()()
    yield s
    s.close()


@pytest.fixture
def sequences_loaded(session) -> None:  # type: ignore[no-untyped-def]
    """Load the shipped default sequences."""
    from nurture.core.config import get_settings
    from nurture.sequences import service

    # The shipped files pass every check (tests/rendering checks them); skipping saves time.
    service.load_path(session, path=get_settings().templates_dir / "sequences", check=False)
    session.commit()


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    """Return an HTTP client for the real app."""
    from fastapi.testclient import TestClient

    from nurture.web.app import create_app

    with TestClient(create_app(), base_url="https://nurture.test") as c:
        yield c


@pytest.fixture
def sendgrid(settings):  # type: ignore[no-untyped-def]
    """Run the local SendGrid server and point the sendgrid backend at it."""
    from tests.sendgrid_server import SendGridServer

    with SendGridServer() as server:
        settings(
            email_backend="sendgrid",
            sendgrid_api_key=server.state.api_key,
            sendgrid_api_host=server.url,
            sendgrid_timeout_seconds="2",
        )
        yield server


@pytest.fixture
def twilio(settings):  # type: ignore[no-untyped-def]
    """Run the local Twilio server and point the twilio text backend at it."""
    from tests.twilio_server import TwilioServer

    with TwilioServer() as server:
        settings(
            twilio_account_sid=server.state.account_sid,
            twilio_auth_token=server.state.auth_token,
            twilio_from="+15550100999",
            twilio_api_base=server.url,
            twilio_timeout_seconds="2",
        )
        yield server
