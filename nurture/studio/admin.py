"""Admin pages: staff accounts, API tokens, settings, data exports and the audit log."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import SecretStr
from sqlalchemy import select

from nurture.core import clock
from nurture.core.config import Settings, get_settings
from nurture.core.served_url import recorded
from nurture.http.deps import SessionDep
from nurture.leads.consent import write_csv
from nurture.locations import service as locations
from nurture.staff import audit, tokens
from nurture.staff.models import ApiToken, StaffUser
from nurture.studio.auth import Role, StaffError, create_staff, set_password
from nurture.studio.web import PREFIX, AdminDep, committed, download, page, redirect, studio_router

router = studio_router()


def _staff_state(member: StaffUser) -> dict[str, Any]:
    state: dict[str, Any] = {"role": member.role, "disabled": member.disabled_at is not None}
    if member.location_keys is not None:
        state["locations"] = member.location_keys
    return state


def _shown(name: str, value: object) -> object:
    """A setting as admins may see it: secrets and credentials in URLs stay hidden."""
    if isinstance(value, SecretStr):
        return "(secret, set)"
    if name in ("database_url", "broker_url") and isinstance(value, str) and "@" in value:
        scheme, _, rest = value.partition("://")
        return f"{scheme}://(credentials hidden)@{rest.rpartition('@')[2]}"
    return value


# Unset settings that fall back to a value worked out at run time, and where it comes from.
_RESOLVED = {
    "base_url": "resolved_base_url",
    "database_url": "resolved_database_url",
    "broker_url": "resolved_broker_url",
    "email_backend": "resolved_email_backend",
    "outbox_dir": "resolved_outbox_dir",
}


def _settings_rows(settings: Settings) -> list[tuple[str, object, str]]:
    """Each setting with the value in use and, when unset, where that value comes from."""
    rows: list[tuple[str, object, str]] = []
    for name, value in sorted(settings):
        note = ""
        if value is None and name in _RESOLVED:
            value = getattr(settings, _RESOLVED[name])
            note = "not set: the default applies"
            if name == "base_url" and recorded(settings.data_dir):
                note = "not set: the address `nurture up` serves, kept in the data directory"
        elif value is None and name == "secret_key":
            value, note = "(not set)", "links are signed with the key kept in the data directory"
        elif value is None:
            value = "(not set)"
        rows.append((name, _shown(name, value), note))
    return rows


@router.get("/admin", response_class=HTMLResponse)
def admin_home(request: Request, staff: AdminDep, session: SessionDep) -> HTMLResponse:
    """Staff, API tokens, exports and settings on one page."""
    settings_rows = _settings_rows(get_settings())
    return page(
        request,
        "admin.html",
        staff,
        title="Admin",
        members=list(session.scalars(select(StaffUser).order_by(StaffUser.email))),
        api_tokens=list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc()))),
        settings_rows=settings_rows,
        roles=[r.value for r in Role],
        sites=locations.sites(),
        now=clock.now(),
        new_token=request.session.pop("new_token", None),
    )


@router.post("/admin/staff", response_class=HTMLResponse)
def add_staff(
    request: Request,
    staff: AdminDep,
    session: SessionDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    role: Annotated[str, Form()] = Role.EDITOR.value,
) -> Response:
    """Create a staff account."""
    try:
        member = create_staff(session, email=email, password=password, role=role, now=clock.now())
    except StaffError as exc:
        session.rollback()
        return redirect(request, f"{PREFIX}/admin", f"Not created: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/admin",
        flash=f"{member.email} can now sign in.",
        action="staff.create",
        target=member.email,
        after=_staff_state(member),
    )


@router.post("/admin/staff/{member_id}")
def change_staff(
    member_id: int,
    request: Request,
    staff: AdminDep,
    session: SessionDep,
    action: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    location: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Change a role, disable or enable, unlock, set a new password, or keep to some sites."""
    member = session.get(StaffUser, member_id)
    if member is None:
        raise HTTPException(status_code=404, detail="No such staff member.")
    back = f"{PREFIX}/admin"
    if member.id == staff.id and action in ("disable", "role"):
        return redirect(request, back, "You cannot disable yourself or change your own role.")
    before = _staff_state(member)
    now = clock.now()
    if action == "role":
        if role not in set(Role):
            return redirect(request, back, f"Role must be one of: {', '.join(Role)}.")
        member.role = role
        member.session_epoch += 1  # the new role applies from their next sign-in
    elif action == "disable":
        member.disabled_at = now
        member.session_epoch += 1
    elif action == "enable":
        member.disabled_at = None
    elif action == "unlock":
        member.locked_until = None
        member.failed_logins = 0
    elif action == "locations":
        keys = set(locations.keys())
        chosen = sorted(set(location or []) & keys)
        # None of them, or all of them: every location, including ones added later.
        member.location_keys = chosen if chosen and len(chosen) < len(keys) else None
        member.session_epoch += 1
    elif action == "password":
        try:
            set_password(member, password)
        except StaffError as exc:
            return redirect(request, back, f"Password not changed: {exc}.")
    else:
        raise HTTPException(status_code=422, detail="Unknown action.")
    return committed(
        request,
        session,
        staff,
        url=back,
        flash=f"{member.email}: done ({action}).",
        action=f"staff.{action}",
        target=member.email,
        before=before,
        after=_staff_state(member),
    )


@router.post("/admin/tokens")
def create_token(
    request: Request,
    staff: AdminDep,
    session: SessionDep,
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Create an API token for the booking system; it is shown once."""
    name = name.strip()
    if not name:
        return redirect(request, f"{PREFIX}/admin", "Give the token a name.")
    try:
        token = tokens.create(session, name=name, now=clock.now())
    except ValueError as exc:
        session.rollback()
        return redirect(request, f"{PREFIX}/admin", f"Not created: {exc}.")
    audit.record(session, staff=staff, action="token.create", target=name)
    session.commit()
    request.session["new_token"] = {"name": name, "token": token}
    return redirect(request, f"{PREFIX}/admin#tokens")


@router.post("/admin/tokens/revoke")
def revoke_token(
    request: Request,
    staff: AdminDep,
    session: SessionDep,
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Stop a token from working."""
    try:
        tokens.revoke(session, name=name, now=clock.now())
    except LookupError as exc:
        return redirect(request, f"{PREFIX}/admin", f"Not revoked: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/admin#tokens",
        flash=f"Token {name} revoked.",
        action="token.revoke",
        target=name,
    )


@router.get("/admin/exports/consent")
def consent_export(staff: AdminDep, session: SessionDep) -> Response:
    """Download the consent trail as CSV."""
    buffer = io.StringIO()
    count = write_csv(session, buffer)
    audit.record(session, staff=staff, action="consent.export", target=f"{count} records")
    session.commit()
    return download(buffer.getvalue(), filename="consent.csv", media_type="text/csv; charset=utf-8")


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, staff: AdminDep, session: SessionDep, offset: int = 0
) -> HTMLResponse:
    """Who changed what, when, with the values before and after."""
    offset = max(0, offset)
    entries = audit.recent(session, limit=101, offset=offset)
    return page(
        request,
        "audit.html",
        staff,
        title="Audit log",
        entries=entries[:100],
        more=len(entries) > 100,
        offset=offset,
    )
