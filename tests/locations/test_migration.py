"""Migration 0025 on a database with today's clinic settings: the clinic becomes `main`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import make_url

from nurture.clinic import service as clinic
from nurture.core.config import get_settings
from nurture.core.migrate import alembic_config
from nurture.locations import service as locations


@pytest.fixture
def old_database(tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of the kind the suite runs on (a scratch one on PostgreSQL)."""
    url = os.environ.get("NURTURE_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        yield sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        return
    name = f"nurture_migration_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.create_engine(make_url(url).set(database=name))
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_clinic_settings_become_the_first_location(old_database: sa.Engine) -> None:
    engine = old_database
    on_postgresql = os.environ.get("NURTURE_DATABASE_URL", "").startswith("postgresql")
    assert engine.dialect.name == ("postgresql" if on_postgresql else "sqlite")
    cfg = alembic_config()
    try:
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0022")
            for key, value in (
                ("clinic_name", '"Old Town Spine"'),
                ("clinic_address", '"7 Mill Lane, Oldtown"'),
                ("booking_url", '"https://book.example.com/old"'),
            ):
                connection.execute(
                    sa.text(
                        "INSERT INTO clinic_settings (key, value, updated_at)"
                        " VALUES (:k, :v, '2026-03-23 09:00:00.000000')"
                    ),
                    {"k": key, "v": value},
                )
            command.upgrade(cfg, "0025")
            with sa.orm.Session(bind=connection) as session:
                rows = locations.stored_rows(session)
                stored = clinic.overrides(session)
            assert [r["key"] for r in rows] == ["main"]
            main = locations.site_of(rows[0], clinic.details(stored), get_settings())
            assert (main.name, main.address, main.booking_url) == (
                "Old Town Spine",
                "7 Mill Lane, Oldtown",
                "https://book.example.com/old",
            )
            command.downgrade(cfg, "0022")
            assert "locations" not in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()
