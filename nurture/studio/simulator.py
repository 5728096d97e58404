"""The timeline simulator: when each email would reach a lead."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from nurture.clinic import service as clinic
from nurture.core import clock, dates
from nurture.core.config import get_settings
from nurture.http.deps import SessionDep
from nurture.leads.models import NumbnessType
from nurture.leads.schemas import check_timezone
from nurture.sequences import checks, drafts
from nurture.sequences.models import Sequence, SequenceVersion
from nurture.sequences.service import live_version
from nurture.sequences.simulate import PlannedEmail, simulate
from nurture.studio.step_form import CONDITIONS, StepForm
from nurture.studio.web import StaffDep, page, studio_router

router = studio_router()


@router.get("/simulator", response_class=HTMLResponse)
def simulator(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    sequence: str = "",
    version: str = "live",
    day: str = "",
    at: str = "21:00",
    timezone: str = "",
) -> HTMLResponse:
    """When each email would reach a lead who confirms at a given local time and zone."""
    s = get_settings()
    sequences = list(session.scalars(select(Sequence).order_by(Sequence.audience)))
    zone_name = timezone.strip() or s.clinic_timezone
    try:
        today = clock.now().astimezone(ZoneInfo(check_timezone(zone_name)))
    except ValueError:
        today = clock.now().astimezone(ZoneInfo(s.clinic_timezone))
    form = {
        "sequence": sequence or (sequences[0].slug if sequences else ""),
        "version": version,
        "day": day or today.date().isoformat(),
        "at": at,
        "timezone": zone_name,
    }
    error = ""
    chosen: SequenceVersion | None = None
    timeline = None
    if sequence:
        try:
            chosen, timeline = _simulated(session, sequences, form)
        except ValueError as exc:
            error = str(exc)
    subjects: dict[int, str] = {}
    if timeline and chosen is not None:
        # Subjects as the lead reads them (first name filled in), for a sample lead.
        audience = chosen.sequence.audience
        kind = audience if audience in set(NumbnessType) else NumbnessType.UNSURE
        for planned in timeline:
            try:
                email = checks.render_for(StepForm.of(planned.step).source(), kind)
            except Exception:  # noqa: BLE001 - a broken draft step shows its raw subject
                continue
            subjects[planned.step.id] = email.subject
    return page(
        request,
        "simulator.html",
        staff,
        status_code=422 if error else 200,
        title="Timeline simulator",
        sequences=sequences,
        form=form,
        error=error,
        timeline=timeline,
        subjects=subjects,
        chosen=chosen,
        conditions=CONDITIONS,
        closures=list(clinic.effective().clinic_closures),
        zones=zone_choices(),
    )


@lru_cache(maxsize=1)
def zone_choices() -> list[tuple[str, str]]:
    """Return every time zone with the city it is named after, for a search by city."""
    found = []
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")):
            continue
        region, _, place = name.partition("/")
        city = place.rsplit("/", 1)[-1].replace("_", " ")
        found.append((name, f"{city} ({region.replace('_', ' ')})"))
    return found


def _simulated(
    session: Session, sequences: list[Sequence], form: dict[str, str]
) -> tuple[SequenceVersion, list[PlannedEmail]]:
    """Plan the chosen version for the form's lead; ValueError says what is wrong."""
    try:
        tz = ZoneInfo(check_timezone(form["timezone"]))
    except ValueError:
        raise ValueError(
            f"No time zone is called {form['timezone'][:60]!r}: type a city, such as Berlin or "
            "New York, and pick it from the list."
        ) from None
    try:
        day = date.fromisoformat(form["day"])
        local = datetime.combine(day, time.fromisoformat(form["at"]))
    except ValueError:
        raise ValueError("Give the date as YYYY-MM-DD and the time as HH:MM.") from None
    dates.check_day(day)
    seq = next((q for q in sequences if q.slug == form["sequence"]), None)
    if seq is None:
        raise ValueError(f"No sequence called {form['sequence']}.")
    draft = form["version"] == "draft"
    chosen = drafts.draft_of(session, seq) if draft else live_version(session, seq.id)
    if chosen is None:
        raise ValueError(f"{seq.name} has no {form['version']} version.")
    return chosen, simulate(chosen, confirmed_at=local.replace(tzinfo=tz), tz=tz)
