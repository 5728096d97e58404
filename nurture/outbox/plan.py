"""The outbox planning API: plan a row once, under its unique key, due when it should go.

The domains plan here; the delivery engine (`nurture.delivery`) claims and sends the rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nurture.outbox.models import Message, MessageStatus


def plan(
    session: Session,
    *,
    key: str,
    stream: str,
    due_at: datetime,
    lead_id: int | None = None,
    enrollment_id: int | None = None,
    step_id: int | None = None,
    appointment_id: int | None = None,
    reminder: str | None = None,
    template: str | None = None,
    to_email: str | None = None,
    context: dict[str, Any] | None = None,
    variant_key: str | None = None,
    channel: str = "email",
    to_phone: str | None = None,
) -> Message:
    """Insert the outbox row for `key` unless it exists; return the row either way.

    A row for a step with variants carries the arm its planner picked (see
    `enrollments.variants.pick`).
    """
    existing = session.scalar(select(Message).where(Message.key == key))
    if existing is not None:
        return existing
    message = Message(
        variant_key=variant_key,
        key=key,
        stream=stream,
        due_at=due_at,
        lead_id=lead_id,
        enrollment_id=enrollment_id,
        step_id=step_id,
        appointment_id=appointment_id,
        reminder=reminder,
        template=template,
        to_email=to_email,
        context=context or {},
        channel=channel,
        to_phone=to_phone,
        status=MessageStatus.PENDING,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:
        # Another transaction planned the same email first; the unique key keeps one copy.
        found = session.scalar(select(Message).where(Message.key == key))
        if found is None:
            raise
        return found
    return message


def plan_many(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert many outbox rows in one statement and count the new ones; existing keys stay.

    Rows for steps with variants come with their arms (`enrollments.variants.plan_many`).
    The rows go as parameter sets of one cached statement (SQLAlchemy batches them into
    multi-row INSERTs), rather than a statement with every value in it compiled anew.
    """
    if not rows:
        return 0
    table = Message.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
    # Rows naming the same columns go together, so every other column keeps its default.
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        full = {"status": MessageStatus.PENDING.value, "context": {}, **row}
        groups.setdefault(frozenset(full), []).append(full)
    # Only the rows inserted come back (a key that exists returns nothing).
    return sum(len(session.execute(statement, params).all()) for params in groups.values())
