"""Engine, session factory and the declarative Base shared by every domain."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Engine, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from nurture.core.config import get_settings
from nurture.core.private_files import create_private, private_dir

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY, so big ids fall back to INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

T = TypeVar("T")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, also on SQLite, which drops the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware UTC value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    busy_ms = int(get_settings().sqlite_busy_timeout_seconds * 1000)
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_savepoint_inside_transaction(conn: Connection, _name: str | None) -> None:
    # pysqlite opens a transaction only before an INSERT, UPDATE or DELETE. A SAVEPOINT
    # issued outside one starts a transaction of its own that RELEASE commits, so the first
    # find-or-create of a session would be written even if the session then rolled back.
    # BEGIN just before the savepoint keeps it nested, as pysqlite itself would before a write.
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def make_engine(url: str) -> Engine:
    """Create an engine for `url`, tuned for SQLite's single writer where needed."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            # Patient data: SQLite would create the file (and its -wal and -shm, which copy the
            # database file's mode) readable by everyone under the usual umask.
            private_dir(Path(path).parent)
            create_private(Path(path))
        wait = get_settings().sqlite_busy_timeout_seconds
        engine = create_engine(url, connect_args={"timeout": wait, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_savepoint_inside_transaction)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


_ENGINES: dict[str, Engine] = {}


def get_engine() -> Engine:
    """Return the process-wide engine for the configured database."""
    url = get_settings().resolved_database_url
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine


def dispose_engines() -> None:
    """Close pooled connections and forget engines (after fork, in tests)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def session_factory() -> sessionmaker[Session]:
    """Return a sessionmaker bound to the configured engine."""
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def chunked(items: Sequence[T], size: int = 2000) -> Iterator[list[T]]:
    """Split `items` into lists of at most `size`: for IN (...) lists and executemany batches
    that stay under the databases' parameter limits."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
