"""The preferences page a signed link in every marketing email opens: the kind of numbness,
a pause, the language, unsubscribe and deletion."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from nurture.core import clock, languages
from nurture.core.tokens import InvalidToken
from nurture.core.translations import gettext as _
from nurture.http.deps import SessionDep
from nurture.http.language import for_lead, switch_links
from nurture.http.pages import link_problem_page, message_page, render_page
from nurture.leads import erasure, inbox, preference_changes, service
from nurture.leads.choices import TYPE_CHOICES
from nurture.leads.models import LeadStatus
from nurture.locations import service as locations
from nurture.rendering.dates import format_day_for_language

router = APIRouter(include_in_schema=False)


def _lead_or_page(
    session: SessionDep, request: Request, token: str
) -> tuple[Any, HTMLResponse | None]:
    try:
        lead = service.lead_from_token(session, "preferences", token)
    except InvalidToken as exc:
        return None, link_problem_page(request, message=_(str(exc)))
    for_lead(lead.language)
    return lead, None


def _preferences(
    request: Request, lead: Any, notice: str | None = None, status: int = 200
) -> HTMLResponse:
    paused = lead.paused_until if lead.paused_until and lead.paused_until > clock.now() else None
    state = lead.status if lead.status in (LeadStatus.ACTIVE, LeadStatus.UNSUBSCRIBED) else "off"
    return render_page(
        request,
        "preferences.html",
        status,
        title=_("Email preferences"),
        state=state,
        types=TYPE_CHOICES,
        current=lead.numbness_type,
        languages=switch_links(request.url.path, "", lead.language),
        notice=notice,
        paused_until=format_day_for_language(paused, lead.timezone, lead.language)
        if paused
        else None,
        resubscribe_action=f"{request.url.path}/resubscribe",
        consent_text=_(service.CONSENT_TEXT),
        sites=locations.sites(),
        site=locations.site(lead.location_key).key,
    )


def _saved_notice(
    changes: preference_changes.PreferenceChanges, timezone: str, language: str
) -> str:
    parts = []
    if changes.type_changed:
        parts.append(_("Saved. Your next emails will match."))
    if changes.paused_until is not None:
        day = format_day_for_language(changes.paused_until, timezone, language)
        parts.append(_("Paused. We'll be back in touch after %(day)s.") % {"day": day})
    if changes.resumed:
        parts.append(_("Welcome back. Your emails carry on from today."))
    return " ".join(parts) or _("No change needed.")


@router.get("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
def preferences_page(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Show a lead's preferences (reached from a signed link in every marketing email)."""
    lead, error = _lead_or_page(session, request, token)
    return error or _preferences(request, lead)


@router.post("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
async def preferences_update(token: str, request: Request, session: SessionDep) -> HTMLResponse:
    """Change type, pause, unsubscribe or delete, as the pressed button says."""
    lead, error = _lead_or_page(session, request, token)
    if error is not None:
        return error
    form = await request.form()
    action = str(form.get("action", ""))
    now = clock.now()
    if action in ("type", "pause2", "pause4", "resume"):
        # One form holds the type and the pause buttons: whatever was changed together is
        # saved together, with one notice.
        if lead.status != LeadStatus.ACTIVE:
            return _preferences(
                request,
                lead,
                _("There is nothing to change: we send you no marketing emails at the moment."),
                409,
            )
        choice = str(form.get("numbness_type", "")) or None
        if (choice is None and action == "type") or (
            choice is not None and choice not in {t[0] for t in TYPE_CHOICES}
        ):
            return _preferences(request, lead, _("Please pick one of the options."), 422)
        wanted = locations.match(str(form.get("location", ""))[:200])
        moved = wanted is not None and wanted.key != locations.site(lead.location_key).key
        if moved and wanted is not None:
            lead.location_key = wanted.key
        changes = preference_changes.update_preferences(
            session,
            lead=lead,
            now=now,
            numbness_type=choice,
            pause_weeks=int(action[-1]) if action.startswith("pause") else None,
            resume=action == "resume",
        )
        notice = _saved_notice(changes, lead.timezone, lead.language)
        if moved and wanted is not None:
            saved = _("Saved: your clinic is now %(name)s.") % {"name": wanted.name}
            notice = saved + " " + notice.replace(_("No change needed."), "")
    elif action == "language":
        try:
            chosen = languages.nearest(str(form.get("language", ""))[:35])
        except ValueError:
            chosen = None
        if chosen is None:
            return _preferences(request, lead, _("Please pick one of the options."), 422)
        if chosen == lead.language:
            notice = _("No change needed.")
        else:
            preference_changes.change_language(session, lead=lead, language=chosen)
            for_lead(chosen)
            notice = _("Saved. Our pages and emails will be in this language.")
    elif action == "unsubscribe":
        service.unsubscribe(session, lead=lead, now=now)
        session.commit()
        return inbox.unsubscribed_page(
            request, resubscribe_action=f"{request.url.path}/resubscribe"
        )
    elif action == "delete":
        if form.get("confirm_delete") != "yes":
            return _preferences(
                request, lead, _("Tick the box to confirm that you want your data deleted."), 422
            )
        erasure.erase(session, lead=lead, now=now)
        session.commit()
        return message_page(
            request,
            title=_("Your data is deleted"),
            message=_(
                "We removed your details. We keep only a note of your address so that we "
                "never email it again."
            ),
        )
    else:
        return _preferences(request, lead, _("Please use one of the buttons."), 422)
    session.commit()
    return _preferences(request, lead, notice)
