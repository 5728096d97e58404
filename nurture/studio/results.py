"""Results in the studio: per sequence and step, as numbers and charts."""

from __future__ import annotations

from typing import Annotated, Any
from xml.etree import ElementTree

import pygal
from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from pygal.style import Style
from sqlalchemy import or_, select
from sqlalchemy.sql.elements import ColumnElement

from nurture.appointments.models import Appointment
from nurture.core import clock, languages
from nurture.delivery.text_results import replies_received, text_results
from nurture.enrollments.results import JourneyResult, journey_results
from nurture.enrollments.sequence_results import COLUMNS, SequenceResult, sequence_results
from nurture.enrollments.variant_results import MIN_SENDS, variant_tests
from nurture.http.deps import SessionDep
from nurture.leads.models import Lead
from nurture.leads.segments import Segment
from nurture.locations import scope
from nurture.outbox.models import Message, TextReply
from nurture.sequences.models import Sequence
from nurture.sequences.winner import WinnerConflict, make_winner
from nurture.staff.models import StaffUser
from nurture.studio import site_scope
from nurture.studio.sequence_lookup import sequence_or_404
from nurture.studio.web import PREFIX, StaffDep, committed, page, studio_router

router = studio_router()
FUNNEL = ("sent", "delivered", "opened", "clicked", "booked")
_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#55626e",
    foreground_strong="#1f2a33",
    foreground_subtle="#a0a8b0",
    colors=("#0b5cad", "#2f8f5b", "#d98e04", "#7a4fbf", "#c0392b"),
    font_family="system-ui, sans-serif",
)


def _svg(chart: pygal.Graph) -> Markup:
    # No script: js=[] drops pygal's tooltips, but pygal still writes an inline <script> with
    # its config, which the Content-Security-Policy would refuse (a console error on every
    # load). The chart is a plain SVG; the table beside it carries the numbers.
    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in [c for c in parent if str(c.tag).rsplit("}", 1)[-1] == "script"]:
            parent.remove(child)
    svg = ElementTree.tostring(tree, encoding="unicode")
    return Markup(svg)  # noqa: S704 - pygal escapes every label it writes


def funnel_chart(result: SequenceResult) -> Markup:
    """Sent, delivered, opened, clicked and booked for the whole sequence."""
    chart = pygal.HorizontalBar(
        style=_STYLE, js=[], height=260, show_legend=False, print_values=True, margin=10
    )
    chart.title = "Funnel (all steps)"
    chart.x_labels = list(reversed(FUNNEL))
    chart.add("emails", [result.total[c] for c in reversed(FUNNEL)])
    return _svg(chart)


def per_day_chart(result: SequenceResult) -> Markup:
    """Emails sent per day over the last weeks."""
    chart = pygal.Bar(
        style=_STYLE,
        js=[],
        height=260,
        show_legend=False,
        x_label_rotation=45,
        show_minor_x_labels=False,
        margin=10,
    )
    chart.title = f"Sends per day, last {len(result.per_day)} days"
    chart.x_labels = [d.strftime("%d %b") for d, _ in result.per_day]
    chart.x_labels_major = chart.x_labels[::7]
    chart.add("sent", [n for _, n in result.per_day])
    return _svg(chart)


def show_chart(journey: JourneyResult) -> Markup:
    """Share of visits attended, with and without a confirmation from the patient."""
    chart = pygal.Bar(
        style=_STYLE,
        js=[],
        height=260,
        show_legend=False,
        print_values=True,
        margin=10,
        range=(0, 100),
    )
    chart.title = "Show rate (% of visits with an outcome)"
    chart.x_labels = ["confirmed", "not confirmed"]
    values = [
        round(100 * r.attended / r.with_outcome, 1) if r.with_outcome else None
        for r in (journey.confirmed, journey.unconfirmed)
    ]
    chart.add("attended", values)
    return _svg(chart)


def _days(value: int) -> int:
    return max(1, min(90, value))


def _keys(staff: StaffUser, location: str) -> tuple[frozenset[str], dict[str, Any]]:
    """The sites whose results to count (a location, and only the account's; none: all)."""
    sites = site_scope.sites_for(staff)
    chosen = {location} & {s.key for s in sites}
    segment = site_scope.scoped(Segment(locations=frozenset(chosen)), staff)
    words = {"sites": sites, "chosen_sites": chosen, "location": next(iter(chosen), "")}
    return segment.locations, words


def _leads(staff: StaffUser, location: str) -> tuple[ColumnElement[bool] | None, dict[str, Any]]:
    """The leads whose results to count (a location's, and only the account's sites)."""
    keys, words = _keys(staff, location)
    return (scope.leads_at(keys) if keys else None), words


def _texts(keys: frozenset[str]) -> dict[str, Any]:
    """The text tables, counting only the sites `keys` (every site when empty).

    A visit's text belongs to the visit's site; any other (staff answers) to its patient's.
    """
    if not keys:
        return {"texts": None, "replies": None}
    leads = select(Lead.id).where(scope.leads_at(keys))
    visits = select(Appointment.id).where(scope.visits_at(keys))
    texts = or_(
        Message.appointment_id.in_(visits),
        Message.appointment_id.is_(None) & Message.lead_id.in_(leads),
    )
    return {"texts": texts, "replies": TextReply.lead_id.in_(leads)}


@router.get("/results", response_class=HTMLResponse)
def results_index(
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    days: int = 7,
    location: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """Totals for every sequence (of one location's people, if one is chosen)."""
    now = clock.now()
    leads, words = _leads(staff, location)
    only = _texts(_keys(staff, location)[0])
    rows = [
        sequence_results(session, s, booked_within_days=_days(days), now=now, leads=leads)
        for s in session.scalars(select(Sequence).order_by(Sequence.audience, Sequence.slug))
    ]
    return page(
        request,
        "results_index.html",
        staff,
        title="Results",
        rows=rows,
        days=_days(days),
        columns=COLUMNS,
        texts=text_results(session, only=only["texts"]),
        replies=replies_received(session, only=only["replies"]),
        **words,
    )


@router.get("/results/{slug}", response_class=HTMLResponse)
def results(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    days: int = 7,
    language: Annotated[str, Query(max_length=35)] = "",
    location: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """Per-step results of one sequence with its funnel and sends per day (one language's)."""
    sequence = sequence_or_404(session, slug)
    leads, words = _leads(staff, location)
    read_in = language if language in languages.offered() else None
    result = sequence_results(
        session,
        sequence,
        booked_within_days=_days(days),
        now=clock.now(),
        leads=leads,
        language=read_in,
    )
    journey = journey_results(session, sequence, within_days=_days(days), leads=leads)
    return page(
        request,
        "results.html",
        staff,
        title=f"Results: {sequence.name}",
        result=result,
        columns=COLUMNS,
        days=_days(days),
        funnel=funnel_chart(result),
        per_day=per_day_chart(result),
        journey=journey,
        shows=show_chart(journey),
        tests=variant_tests(session, sequence, within_days=_days(days), leads=leads),
        min_sends=MIN_SENDS,
        language=read_in or "",
        **words,
    )


@router.post("/results/{slug}/winner")
def winner(
    slug: str,
    request: Request,
    staff: StaffDep,
    session: SessionDep,
    step: Annotated[str, Form(max_length=80)] = "",
    variant: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Make one variant of a step's test the step itself, in the draft, for review."""
    sequence = sequence_or_404(session, slug)
    try:
        made = make_winner(session, sequence=sequence, step_key=step, variant_key=variant)
    except WinnerConflict as exc:
        session.rollback()
        return page(
            request,
            "message.html",
            staff,
            status_code=409,
            title="Not made the step",
            message=str(exc),
            back=f"{PREFIX}/results/{slug}",
        )
    number = made.draft.number
    return committed(
        request,
        session,
        staff,
        url=f"{PREFIX}/sequences/{slug}/edit",
        flash=f"Variant {variant} is now the step '{step}' in draft v{number}: review and publish.",
        action="step.winner",
        target=f"{slug} v{number} {step} {variant}",
        before=made.before,
        after=made.after,
    )
