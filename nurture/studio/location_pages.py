"""The clinic's locations as admins manage them: add, change, remove, map Cal.com bookings."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from nurture.core import clock
from nurture.http.deps import SessionDep
from nurture.locations import edit, service
from nurture.locations.models import Location
from nurture.staff.models import StaffUser
from nurture.studio.web import PREFIX, AdminDep, committed, page, redirect, studio_router

router = studio_router()
URL = f"{PREFIX}/admin/locations"
FORM_FIELDS = (*edit.FIELDS, "timezone", *edit.LISTS)


def _text(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value or "")


def _form_of(row: Location | None, shown: dict[str, str] | None) -> dict[str, str]:
    if shown is not None:
        return shown
    if row is None:
        return {}
    return {name: _text(name, getattr(row, name)) for name in FORM_FIELDS}


def _list(
    request: Request,
    staff: StaffUser,
    session: Session,
    *,
    shown: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    sites = [{"site": site, "usage": service.usage(session, site.key)} for site in service.sites()]
    return page(
        request,
        "locations.html",
        staff,
        status_code=422 if errors else 200,
        title="Locations",
        sites=sites,
        form=shown or {},
        errors=errors or {},
        fields=edit.FIELDS,
        zones=edit.zone_choices(),
    )


def _edit_page(
    request: Request,
    staff: StaffUser,
    row: Location,
    *,
    shown: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return page(
        request,
        "location.html",
        staff,
        status_code=422 if errors else 200,
        title=f"Location {row.name or row.key}",
        row=row,
        site=service.site(row.key),
        form=_form_of(row, shown),
        errors=errors or {},
        fields=edit.FIELDS,
        lists=edit.LISTS,
        zones=edit.zone_choices(),
    )


@router.get("/admin/locations", response_class=HTMLResponse)
def locations_page(request: Request, staff: AdminDep, session: SessionDep) -> HTMLResponse:
    """List the clinic's locations, with a form to add one."""
    service.invalidate()
    return _list(request, staff, session)


def _stored(session: Session, key: str) -> Location | None:
    row = session.get(Location, key)
    if row is None and key == service.MAIN and not service.stored_rows(session):
        # The clinic itself, not yet stored: editing it stores it.
        row = Location(key=service.MAIN, created_at=clock.now(), updated_at=clock.now())
        session.add(row)
        session.flush()
    return row


@router.get("/admin/locations/{key}", response_class=HTMLResponse)
def location_page(request: Request, key: str, staff: AdminDep, session: SessionDep) -> HTMLResponse:
    """Show one location's details for editing."""
    row = session.get(Location, key)
    if row is None and key == service.MAIN:
        row = Location(key=service.MAIN)  # shown, not stored: a GET changes nothing
    if row is None:
        return page(
            request,
            "message.html",
            staff,
            status_code=404,
            title="No such location",
            message="That location does not exist (it may have been removed).",
            back=URL,
        )
    return _edit_page(request, staff, row)


async def _fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k in (*FORM_FIELDS, "key") if isinstance(v := form.get(k), str)}


@router.post("/admin/locations", response_class=HTMLResponse)
async def add_location(request: Request, staff: AdminDep, session: SessionDep) -> Response:
    """Add a location; nothing is stored if any field is wrong."""
    return await run_in_threadpool(_add, request, staff, session, await _fields(request))


def _add(request: Request, staff: StaffUser, session: Session, form: dict[str, str]) -> Response:
    values, errors = edit.parse(form)
    key = form.get("key", "").strip().lower()
    if not errors:
        try:
            row = edit.add(session, key, values, now=clock.now())
        except ValueError as exc:
            errors["key"] = str(exc)[:1].upper() + str(exc)[1:] + "."
    if errors:
        session.rollback()
        return _list(request, staff, session, shown=form, errors=errors)
    response = committed(
        request,
        session,
        staff,
        url=f"{URL}/{key}",
        flash=f"Location {row.name} added; emails and pages use it from now on.",
        action="location.add",
        target=key,
        after=row.as_dict(),
    )
    service.invalidate()
    return response


@router.post("/admin/locations/{key}", response_class=HTMLResponse)
async def save_location(
    request: Request, key: str, staff: AdminDep, session: SessionDep
) -> Response:
    """Store a location's changed details."""
    return await run_in_threadpool(_save, request, staff, session, key, await _fields(request))


def _save(
    request: Request, staff: StaffUser, session: Session, key: str, form: dict[str, str]
) -> Response:
    row = _stored(session, key)
    if row is None:
        return redirect(request, URL, "That location no longer exists; nothing was saved.")
    values, errors = edit.parse(form)
    if not errors:
        try:
            before, after = edit.update(session, row, values, now=clock.now())
        except ValueError as exc:
            errors["name"] = str(exc)
    if errors:
        session.rollback()
        return _edit_page(request, staff, row, shown=form, errors=errors)
    if not after:
        session.rollback()
        return redirect(request, f"{URL}/{key}", "Nothing changed.")
    response = committed(
        request,
        session,
        staff,
        url=f"{URL}/{key}",
        flash="Location saved; emails and pages use it from now on.",
        action="location.update",
        target=key,
        before=before,
        after=after,
    )
    service.invalidate()
    return response


@router.post("/admin/locations/{key}/remove", response_class=HTMLResponse)
async def remove_location(
    request: Request, key: str, staff: AdminDep, session: SessionDep
) -> Response:
    """Remove a location nothing uses any more."""
    return await run_in_threadpool(_remove, request, staff, session, key)


def _remove(request: Request, staff: StaffUser, session: Session, key: str) -> Response:
    try:
        row = edit.remove(session, key)
    except ValueError as exc:
        session.rollback()
        return redirect(request, URL, f"Not removed: {exc}.")
    response = committed(
        request,
        session,
        staff,
        url=URL,
        flash=f"Location {row.name or key} removed.",
        action="location.remove",
        target=key,
        before=row.as_dict(),
    )
    service.invalidate()
    return response
