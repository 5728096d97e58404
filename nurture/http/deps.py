"""Request dependencies every view uses: a database session per request, and row ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.orm import Session

from nurture.core.db import session_factory


def get_session() -> Iterator[Session]:
    """Yield a session for one request; views commit what they change."""
    session = session_factory()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
# Ids are 64-bit integers: a larger one in a path is answered 422 before any query, since
# SQLite cannot even bind it.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
