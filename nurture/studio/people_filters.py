"""The leads list's filter as form fields and query parameters (see `leads.segments`)."""

from __future__ import annotations

from nurture.leads import segments
from nurture.leads.segments import Segment

FILTER_FIELDS = frozenset(
    {
        "q",
        "numbness_type",
        "status",
        "booked",
        "last_visit_before",
        "signed_up_from",
        "signed_up_to",
        "sequence",
        "tag",
        "location",
        "language",
    }
)


def form_fields(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Group a posted form's fields by name, repeated names kept in order."""
    fields: dict[str, list[str]] = {}
    for key, value in items:
        fields.setdefault(key, []).append(value)
    return fields


def segment_from_form(items: list[tuple[str, str]]) -> tuple[Segment, dict[str, str]]:
    """Read the leads filter from form fields: the segment and any problems by field."""
    filters = {k: v for k, v in form_fields(items).items() if k in FILTER_FIELDS}
    return segments.parse_segment(filters)


def filter_params(segment: Segment) -> list[tuple[str, str]]:
    """Return the query parameters that stand for a filter, for links and hidden fields."""
    params = [("q", segment.search)] if segment.search else []
    params += [("numbness_type", t) for t in sorted(segment.numbness_types)]
    params += [("status", s) for s in sorted(segment.statuses)]

    if segment.booked is not None:
        params.append(("booked", "yes" if segment.booked else "no"))
    days = (
        ("last_visit_before", segment.last_visit_before),
        ("signed_up_from", segment.signed_up_from),
        ("signed_up_to", segment.signed_up_to),
    )
    params += [(name, day.isoformat()) for name, day in days if day is not None]
    if segment.sequence_slug:
        params.append(("sequence", segment.sequence_slug))
    if segment.tag:
        params.append(("tag", segment.tag))
    params += [("location", key) for key in sorted(segment.locations)]
    if segment.language:
        params.append(("language", segment.language))
    return params
