"""Run Alembic migrations from code (`nurture db upgrade`, `nurture up`, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from nurture.core.config import PACKAGE_DIR
from nurture.core.db import get_engine


def alembic_config() -> Config:
    """Return an Alembic config pointing at the package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(PACKAGE_DIR / "migrations"))
    return cfg


def upgrade(revision: str = "head") -> None:
    """Bring the configured database up to `revision`."""
    cfg = alembic_config()
    with get_engine().begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
