"""Staff kept to some locations: what they may see and act on, checked on every page.

An account with `location_keys` set sees only the people and visits of those sites (see
`nurture.locations.scope` for what belongs to a site); admins manage accounts and so always
see every site. Anything outside the account's sites answers as if it did not exist.
"""

from __future__ import annotations

from dataclasses import replace

from fastapi import HTTPException
from sqlalchemy import exists, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement

from nurture.appointments.models import Appointment
from nurture.leads.models import Lead
from nurture.leads.segments import Segment
from nurture.locations import scope, service
from nurture.outbox.models import Message
from nurture.staff.models import StaffUser
from nurture.studio.auth import Role

# No site has this key (keys start with a letter or digit): a filter that matches nobody.
NO_SITE = "-"


def allowed(staff: StaffUser) -> frozenset[str] | None:
    """Return the sites the account is kept to, or None for every site."""
    if staff.role == Role.ADMIN or staff.location_keys is None:
        return None
    return frozenset(staff.location_keys)


def scoped(segment: Segment, staff: StaffUser) -> Segment:
    """Return `segment` narrowed to the account's sites."""
    sites = allowed(staff)
    if sites is None:
        return segment
    wanted = segment.locations & sites if segment.locations else sites
    return replace(segment, locations=wanted or frozenset({NO_SITE}))


def leads_seen(staff: StaffUser) -> ColumnElement[bool] | None:
    """Return the condition on Lead the account is kept to, or None for every lead."""
    sites = allowed(staff)
    return None if sites is None else scope.leads_at(sites or {NO_SITE})


def lead_filter(staff: StaffUser) -> list[ColumnElement[bool]]:
    """Return the conditions on Lead the account is kept to (none for every lead)."""
    condition = leads_seen(staff)
    return [] if condition is None else [condition]


def visits_seen(staff: StaffUser) -> ColumnElement[bool] | None:
    """Return the condition on Appointment the account is kept to, or None for every visit."""
    sites = allowed(staff)
    return None if sites is None else scope.visits_at(sites or {NO_SITE})


def lead_ids_seen(
    staff: StaffUser, column: InstrumentedAttribute[int | None]
) -> ColumnElement[bool]:
    """Match rows whose lead (`column`) the account may see; rows of no lead only for all."""
    condition = leads_seen(staff)
    if condition is None:
        return column.is_(None) | column.isnot(None)
    return exists().where(Lead.id == column, condition)


def sites_for(staff: StaffUser) -> list[service.Site]:
    """Return the sites the account may pick (every site for most accounts)."""
    sites = allowed(staff)
    return [s for s in service.sites() if sites is None or s.key in sites]


def check_site(staff: StaffUser, key: str | None) -> None:
    """Raise ValueError unless the account may act at site `key` (None: the default site)."""
    sites = allowed(staff)
    if sites is not None and service.site(key).key not in sites:
        raise ValueError("that location is not one of yours")


def visit_filter(staff: StaffUser) -> list[ColumnElement[bool]]:
    """Return the conditions on Appointment the account is kept to (none for every visit)."""
    condition = visits_seen(staff)
    return [] if condition is None else [condition]


def message_filter(staff: StaffUser) -> list[ColumnElement[bool]]:
    """Return the conditions on outbox rows the account is kept to (their leads' rows only)."""
    if allowed(staff) is None:
        return []
    return [lead_ids_seen(staff, Message.lead_id)]


def may_see_message(session: Session, staff: StaffUser, message: Message) -> bool:
    """Tell whether the account may see one outbox row."""
    condition = leads_seen(staff)
    if condition is None:
        return True
    if message.lead_id is None:
        return False
    return session.scalar(select(Lead.id).where(Lead.id == message.lead_id, condition)) is not None


def reply_filter(staff: StaffUser) -> list[ColumnElement[bool]]:
    """Return the conditions on patients' text replies the account is kept to."""
    from nurture.outbox.models import TextReply

    if allowed(staff) is None:
        return []
    return [lead_ids_seen(staff, TextReply.lead_id)]


def may_see_reply(session: Session, staff: StaffUser, lead_id: int | None) -> bool:
    """Tell whether the account may see a reply from the patient `lead_id`."""
    condition = leads_seen(staff)
    if condition is None:
        return True
    if lead_id is None:
        return False
    return session.scalar(select(Lead.id).where(Lead.id == lead_id, condition)) is not None


def check_lead(session: Session, staff: StaffUser, lead_id: int) -> None:
    """Answer 404 unless the account may see the lead."""
    condition = leads_seen(staff)
    if condition is None:
        return
    if session.scalar(select(Lead.id).where(Lead.id == lead_id, condition)) is None:
        raise HTTPException(status_code=404, detail="No such lead (it may have been deleted).")


def check_visit(session: Session, staff: StaffUser, appointment_id: int) -> None:
    """Answer 404 unless the account may see the visit."""
    condition = visits_seen(staff)
    if condition is None:
        return
    found = session.scalar(
        select(Appointment.id).where(Appointment.id == appointment_id, condition)
    )
    if found is None:
        raise HTTPException(status_code=404, detail="No such visit.")
