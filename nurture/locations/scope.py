"""Which leads and visits belong to some sites: for filters and for staff kept to their sites.

A visit belongs to its site (no site: the default one). A lead belongs to the site they
prefer (none: the default one) and to every site they have a visit at.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from nurture.appointments.models import Appointment
from nurture.leads.models import Lead
from nurture.locations import service


def _keyed(column: InstrumentedAttribute[str | None], keys: Iterable[str]) -> ColumnElement[bool]:
    wanted = sorted(set(keys))
    condition: ColumnElement[bool] = column.in_(wanted)
    if service.default().key in wanted:
        condition = or_(condition, column.is_(None))
    return condition


def visits_at(keys: Iterable[str]) -> ColumnElement[bool]:
    """Match appointments at any of the sites `keys`."""
    return _keyed(Appointment.location_key, keys)


def leads_at(keys: Iterable[str]) -> ColumnElement[bool]:
    """Match leads who prefer, or have a visit at, any of the sites `keys`."""
    keys = sorted(set(keys))
    return or_(
        _keyed(Lead.location_key, keys),
        exists().where(Appointment.lead_id == Lead.id, visits_at(keys)),
    )
