"""Sequences in the studio: the list, one sequence, new ones, drafts begun, YAML in and out."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import case, func, select

from nurture.enrollments.models import Enrollment, EnrollmentStatus
from nurture.http.deps import SessionDep
from nurture.http.errors import errors_text
from nurture.sequences import drafts
from nurture.sequences.export import dump_spec
from nurture.sequences.files import (
    parse_sequence,
)
from nurture.sequences.models import Sequence
from nurture.sequences.service import create_draft, live_version, spec_of
from nurture.staff import audit
from nurture.studio import journey_words
from nurture.studio.sequence_lookup import sequence_or_404
from nurture.studio.step_form import CONDITIONS
from nurture.studio.web import PREFIX, StaffDep, committed, download, page, redirect, studio_router

router = studio_router()


@router.get("/sequences", response_class=HTMLResponse)
def sequence_list(request: Request, staff: StaffDep, session: SessionDep) -> HTMLResponse:
    """Every sequence with its audience, state, live version and enrollment counts."""
    counts = {
        sid: (int(total), int(active or 0), int(done or 0))
        for sid, total, active, done in session.execute(
            select(
                Enrollment.sequence_id,
                func.count(Enrollment.id),
                func.sum(case((Enrollment.status == EnrollmentStatus.ACTIVE, 1), else_=0)),
                func.sum(case((Enrollment.status == EnrollmentStatus.COMPLETED, 1), else_=0)),
            ).group_by(Enrollment.sequence_id)
        )
    }
    rows = []
    for sequence in session.scalars(select(Sequence).order_by(Sequence.audience, Sequence.slug)):
        live = live_version(session, sequence.id)
        draft = drafts.draft_of(session, sequence)
        rows.append(
            {
                "sequence": sequence,
                "live": live,
                "draft": draft,
                "steps": len(live.steps) if live else 0,
                "counts": counts.get(sequence.id, (0, 0, 0)),
            }
        )
    return page(request, "sequences.html", staff, title="Sequences", rows=rows)


@router.post("/sequences", response_class=HTMLResponse)
def new_sequence(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    slug: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    audience: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Start a new sequence as a draft with one starter step."""
    try:
        spec = drafts.starter_spec(slug=slug.strip(), name=name.strip(), audience=audience.strip())
        if session.scalar(select(Sequence.id).where(Sequence.slug == spec.slug)) is not None:
            raise ValueError(f"a sequence called '{spec.slug}' exists already")
    except ValidationError as exc:
        detail = errors_text(exc.errors())
        return redirect(request, f"{PREFIX}/sequences", f"Not created: {detail}")
    except ValueError as exc:
        return redirect(request, f"{PREFIX}/sequences", f"Not created: {exc}.")
    draft = create_draft(session, spec=spec)
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{spec.slug}/edit",
        flash="Sequence created as a draft: write its steps, then publish it.",
        action="sequence.create",
        target=f"{spec.slug} v{draft.number}",
        after=spec.model_dump(mode="json"),
    )


@router.get("/sequences/{slug}", response_class=HTMLResponse)
def sequence_view(
    slug: str, request: Request, staff: StaffDep, session: SessionDep
) -> HTMLResponse:
    """One sequence: its live steps, its versions and what can be done with it."""
    sequence = sequence_or_404(session, slug)
    live = live_version(session, sequence.id)
    draft = drafts.draft_of(session, sequence)
    return page(
        request,
        "sequence.html",
        staff,
        title=sequence.name,
        sequence=sequence,
        live=live,
        draft=draft,
        live_journey=journey_words.describe(live) if live else None,
        draft_journey=journey_words.describe(draft) if draft else None,
        versions=list(reversed(sequence.versions)),
        conditions=CONDITIONS,
    )


@router.post("/sequences/{slug}/draft")
def start_draft(slug: str, request: Request, staff: StaffDep, session: SessionDep) -> Response:
    """Start editing: copy the live version into a draft (or reopen the draft)."""
    sequence = sequence_or_404(session, slug)
    existed = drafts.draft_of(session, sequence) is not None
    draft = drafts.ensure_draft(session, sequence)
    if not existed:
        audit.record(
            session, staff=staff, action="sequence.draft", target=f"{slug} v{draft.number}"
        )
    session.commit()
    return redirect(request, f"{PREFIX}/sequences/{slug}/edit")


@router.get("/sequences/{slug}/export")
def export_yaml(slug: str, _: StaffDep, session: SessionDep, version: str = "live") -> Response:
    """Download the live version (or the draft) as a sequence file for git."""
    sequence = sequence_or_404(session, slug)
    chosen = (
        drafts.draft_of(session, sequence)
        if version == "draft"
        else live_version(session, sequence.id)
    )
    if chosen is None:
        raise HTTPException(status_code=404, detail=f"{slug} has no {version} version.")
    return download(
        dump_spec(spec_of(chosen)),
        filename=f"{slug}.yml",
        media_type="application/yaml; charset=utf-8",
    )


@router.post("/sequences/{slug}/import", response_class=HTMLResponse)
def import_yaml(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """Make an uploaded sequence file the draft, after checking it like `nurture sequences load`."""
    sequence = sequence_or_404(session, slug)
    raw = file.file.read()  # a plain def: the checks below run off the event loop
    try:
        spec = parse_sequence(raw.decode("utf-8"))
        draft = drafts.replace_with(session, sequence, spec)
    except UnicodeDecodeError:
        return redirect(request, f"{PREFIX}/sequences/{slug}", "Not imported: not UTF-8 text.")
    except yaml.YAMLError as exc:
        return redirect(request, f"{PREFIX}/sequences/{slug}", f"Not imported: bad YAML: {exc}")
    except ValidationError as exc:
        fields = errors_text(exc.errors())
        return redirect(request, f"{PREFIX}/sequences/{slug}", f"Not imported: {fields}")
    except ValueError as exc:
        session.rollback()
        return redirect(request, f"{PREFIX}/sequences/{slug}", f"Not imported: {exc}.")
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"Imported {file.filename or 'the file'} as draft version {draft.number}.",
        action="sequence.import",
        target=f"{slug} v{draft.number}",
        after=spec.model_dump(mode="json"),
    )
