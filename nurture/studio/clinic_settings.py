"""The clinic's details as admins edit them: name, contact, hours, links, colour, senders."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from nurture.clinic import service as clinic
from nurture.core import clock
from nurture.http.deps import SessionDep
from nurture.staff.models import StaffUser
from nurture.studio.web import PREFIX, AdminDep, committed, page, redirect, studio_router

router = studio_router()
URL = f"{PREFIX}/admin/clinic"


def _rows(
    session: Session, shown: dict[str, str] | None, errors: dict[str, str]
) -> list[dict[str, Any]]:
    env = clinic.defaults()
    stored = clinic.overrides(session)
    rows = []
    for spec in clinic.FIELDS:
        current = stored.get(spec.name, env[spec.name])
        value = shown[spec.name] if shown and spec.name in shown else None
        rows.append(
            {
                "field": spec,
                "value": value if value is not None else clinic.as_text(spec, current),
                "default": clinic.as_text(spec, env[spec.name]),
                "overridden": spec.name in stored,
                "error": errors.get(spec.name),
            }
        )
    return rows


def _page(
    request: Request,
    staff: StaffUser,
    session: Session,
    *,
    shown: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    return page(
        request,
        "clinic.html",
        staff,
        status_code=422 if errors else 200,
        title="Clinic details",
        rows=_rows(session, shown, errors or {}),
        errors=errors or {},
    )


@router.get("/admin/clinic", response_class=HTMLResponse)
def clinic_page(request: Request, staff: AdminDep, session: SessionDep) -> HTMLResponse:
    """Show the clinic's details with the environment's value beside each override."""
    return _page(request, staff, session)


def _save(request: Request, staff: StaffUser, session: Session, form: dict[str, str]) -> Response:
    values, errors = clinic.parse_form(form)
    if errors:
        return _page(request, staff, session, shown=form, errors=errors)
    before, after = clinic.save(session, values, now=clock.now())
    if not after:
        session.rollback()
        return redirect(request, URL, "Nothing changed.")
    response = committed(
        request,
        session,
        staff,
        url=URL,
        flash="Clinic details saved; emails and pages use them from now on.",
        action="clinic.update",
        target=", ".join(after),
        before=before,
        after=after,
    )
    clinic.invalidate()
    return response


@router.post("/admin/clinic", response_class=HTMLResponse)
async def save_clinic(request: Request, staff: AdminDep, session: SessionDep) -> Response:
    """Validate and store the clinic's details; nothing is stored if any field is wrong."""
    form = await request.form()
    fields = {k: v for k in clinic.BY_NAME if isinstance(v := form.get(k), str)}
    return await run_in_threadpool(_save, request, staff, session, fields)


@router.post("/admin/clinic/reset")
async def reset_clinic(request: Request, staff: AdminDep, session: SessionDep) -> Response:
    """Remove one studio override, so the NURTURE_* value applies again."""
    form = await request.form()
    name = form.get("name")
    return await run_in_threadpool(_reset, request, staff, session, str(name or ""))


def _reset(request: Request, staff: StaffUser, session: Session, name: str) -> Response:
    if name not in clinic.BY_NAME:
        return redirect(request, URL, "Unknown setting; nothing was reset.")
    before, after = clinic.reset(session, [name])
    if not before:
        return redirect(request, URL, "That setting already uses its default.")
    response = committed(
        request,
        session,
        staff,
        url=URL,
        flash=f"{clinic.BY_NAME[name].label} is back to its default.",
        action="clinic.reset",
        target=name,
        before=before,
        after=after,
    )
    clinic.invalidate()
    return response
