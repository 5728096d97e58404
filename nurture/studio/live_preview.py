"""A live step as people get it now, read-only: no draft needed to look at it."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from nurture.http.deps import RowId, SessionDep
from nurture.leads.models import NumbnessType
from nurture.sequences import checks, variants
from nurture.sequences.files import VariantSpec
from nurture.sequences.service import live_version
from nurture.studio.sequence_lookup import sequence_or_404
from nurture.studio.step_form import CONDITIONS, StepForm
from nurture.studio.web import StaffDep, page, studio_router

router = studio_router()


@router.get("/sequences/{slug}/steps/{step_id}", response_class=HTMLResponse)
def live_step(
    slug: str,
    step_id: RowId,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    numbness_type: Annotated[str, Query(max_length=20)] = "chronic",
    variant: Annotated[str, Query(max_length=40)] = "",
    location: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """Show one step of the live version as a sample lead gets it, without starting a draft."""
    sequence = sequence_or_404(session, slug)
    live = live_version(session, sequence.id)
    step = next((s for s in live.steps if s.id == step_id), None) if live else None
    if live is None or step is None:
        raise HTTPException(404, "That step is not in the live version.")
    kind = numbness_type if numbness_type in set(NumbnessType) else NumbnessType.CHRONIC
    source = StepForm.of(step).source()
    arm = variants.find_variant(step, variant or None)
    if arm is not None:
        spec = VariantSpec.model_construct(**variants.spec_dict(arm))
        source = checks.with_variant(source, spec)
    checked = checks.check_step(source, kind, location_key=location or None)
    return page(
        request,
        "live_step.html",
        staff,
        title=f"{sequence.name}: step {step.position} (live)",
        sequence=sequence,
        live=live,
        step=step,
        email=checked.email,
        problems=checked.errors,
        types=sorted(NumbnessType),
        kind=kind,
        picked=arm.key if arm is not None else "",
        location=location,
        conditions=CONDITIONS,
    )
