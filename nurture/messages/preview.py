"""Every shipped email rendered for sample people: for `nurture preview` and for checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from markupsafe import escape

from nurture.appointments.models import Appointment
from nurture.clinic import service as clinic
from nurture.core import languages
from nurture.core.config import get_settings
from nurture.leads.models import Lead, NumbnessType
from nurture.messages.contexts import appointment_context, clinic_context, lead_context
from nurture.messages.links import confirm_url, preferences_url
from nurture.messages.privacy_words import CONDITION_WORDS
from nurture.rendering.dates import format_day
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.rendering.safety import safety_for
from nurture.sequences.files import read_sequence_file, sequence_files
from nurture.sequences.variants import StepContent, overlay

# What an inbox shows must not give away a condition, in any language (privacy_words).
MAX_BYTES = 100 * 1024  # Gmail clips larger messages
_HREF = re.compile(r"""href=["']([^"']+)["']""", re.I)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ALT = re.compile(r"""\balt\s*=\s*(["'])\s*[^"'\s]""", re.I)


@dataclass(frozen=True, slots=True)
class Sample:
    """One rendered email and what kind of email it is."""

    name: str
    marketing: bool
    email: RenderedEmail


# Ids no stored row has (ids start at 1): a link in a sample or test email, if followed,
# can never act on a real lead or visit.
SAMPLE_ID = 0


def sample_lead(numbness_type: str, location_key: str | None = None) -> Lead:
    """Return an unsaved lead to render for (of the location `location_key`, if given)."""
    return Lead(
        location_key=location_key,
        id=SAMPLE_ID,
        email="sam@example.com",
        first_name="Sam",
        numbness_type=numbness_type,
        timezone=get_settings().clinic_timezone,
        token_version=0,
    )


def _in_weeks(weeks: int) -> datetime:
    return datetime.now(UTC) + timedelta(weeks=weeks)


def _appointment() -> Appointment:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=14, minute=30, second=0, microsecond=0
    )
    return Appointment(
        id=SAMPLE_ID,
        lead_id=SAMPLE_ID,
        starts_at=start,
        timezone=get_settings().clinic_timezone,
        duration_minutes=45,
        location="",
        revision=0,
        status="booked",
    )


def all_samples(language: str | None = None) -> Iterator[Sample]:
    """Render every shipped sequence step and transactional email.

    With `language`, what a patient reading it gets: each step translated into it (named
    `<language>/...`; a step without that translation is left out, its readers get the
    original) and every transactional email, in its layout.
    """
    if language is not None:
        yield from _samples_in(language)
        return
    s = get_settings()
    renderer = get_renderer()
    for path in sequence_files(s.templates_dir / "sequences"):
        spec = read_sequence_file(path)
        audience = spec.audience if spec.audience in set(NumbnessType) else "unsure"
        lead = sample_lead(audience)
        for position, step in enumerate(spec.steps, start=1):
            # The same opaque campaign tag a real send uses: never the sequence's audience.
            context = lead_context(lead, content=f"step-{position}")
            yield Sample(
                f"{spec.slug}/{step.key}",
                True,
                renderer.render_step(
                    subject=step.subject,
                    preheader=step.preheader,
                    body_html=step.body_html,
                    body_text=step.text,
                    context=context,
                ),
            )
            for arm in step.variants or []:
                # As sent (nurture.sequences.variants): the arm's fields over the step's.
                body = arm.body_html
                text = arm.text if arm.text is not None or body is not None else step.text
                yield Sample(
                    f"{spec.slug}/{step.key}/{arm.key}",
                    True,
                    renderer.render_step(
                        subject=step.subject if arm.subject is None else arm.subject,
                        preheader=step.preheader if arm.preheader is None else arm.preheader,
                        body_html=step.body_html if body is None else body,
                        body_text=text,
                        context=context,
                    ),
                )
    yield from _transactional(None, "")


def every_sample() -> Iterator[Sample]:
    """Render every shipped email in every language the clinic offers (the default first)."""
    yield from all_samples()
    for language in languages.offered()[1:]:
        yield from all_samples(language)


def _samples_in(language: str) -> Iterator[Sample]:
    """The steps translated into `language`, then the transactional emails in it."""
    renderer = get_renderer()
    for path in sequence_files(get_settings().templates_dir / "sequences"):
        spec = read_sequence_file(path)
        audience = spec.audience if spec.audience in set(NumbnessType) else "unsure"
        lead = sample_lead(audience)
        for position, step in enumerate(spec.steps, start=1):
            own = (step.translations or {}).get(language)
            if own is None:
                continue
            context = lead_context(lead, content=f"step-{position}")
            original = StepContent(
                step.subject, step.preheader, step.markdown, step.body_html, step.text
            )
            content = overlay(original, own.model_dump(exclude_none=True))
            arms = [
                (arm.key, (arm.translations or {}).get(language)) for arm in step.variants or []
            ]
            shown = [(f"{step.key}", content)] + [
                (f"{step.key}/{key}", overlay(content, fields.model_dump(exclude_none=True)))
                for key, fields in arms
                if fields is not None
            ]
            for name, what in shown:
                yield Sample(
                    f"{language}/{spec.slug}/{name}",
                    True,
                    renderer.render_step(
                        subject=what.subject,
                        preheader=what.preheader,
                        body_html=what.body_html,
                        body_text=what.body_text,
                        context=context,
                        language=language,
                    ),
                )
    yield from _transactional(language, f"{language}/")


def _transactional(language: str | None, prefix: str) -> Iterator[Sample]:
    renderer = get_renderer()
    for kind in sorted(NumbnessType):
        lead = sample_lead(kind)
        base: dict[str, Any] = {
            **clinic_context(),
            "marketing": False,
            "first_name": "Sam",
            "preferences_url": preferences_url(lead),
        }
        paused_until = _in_weeks(4)
        named: dict[str, dict[str, Any]] = {
            "confirm": {"confirm_url": confirm_url(lead)},
            "goodbye": {},
            "preferences_changed": {
                "change": f"emails are paused until {format_day(paused_until, lead.timezone)}",
                "paused_until": paused_until.isoformat(),
                "timezone": lead.timezone,
            },
        }
        appointment = _appointment()
        for name in (
            "appointment_confirmation",
            "appointment_reminder",
            "appointment_nudge",
            "appointment_update",
            "appointment_cancellation",
        ):
            named[name] = appointment_context(appointment)
        for name, extra in named.items():
            yield Sample(
                f"{prefix}transactional/{name}/{kind}",
                False,
                renderer.render_named(name, {**base, **extra}, language=language),
            )


def problems(sample: Sample, *, require_https: bool) -> list[str]:
    """Return what is wrong with a rendered email (empty when it is fit to send)."""
    email = sample.email
    found: list[str] = []
    if CONDITION_WORDS.search(email.subject) or CONDITION_WORDS.search(email.preheader):
        found.append(f"subject or preheader names a condition: {email.subject!r}")
    if len(email.subject) > 60:
        found.append(f"subject is {len(email.subject)} characters (keep it under 60)")
    if not email.text.strip() or not email.html.strip():
        found.append("a part is empty")
    if "<" in email.text and re.search(r"</?[a-z]+[ >]", email.text):
        found.append("the text part has HTML left in it")
    size = len(email.html.encode()) + len(email.text.encode())
    if size > MAX_BYTES:
        found.append(f"{size} bytes; Gmail clips emails over {MAX_BYTES}")
    if sample.marketing:
        if "/unsubscribe/" not in email.html or "/unsubscribe/" not in email.text:
            found.append("no unsubscribe link")
        address = clinic.effective().clinic_address
        if address not in email.html or address not in email.text:
            found.append("no postal address")
        missing = [
            flag
            for flag in safety_for(email.language).red_flags
            if str(escape(flag)) not in email.html or flag not in email.text
        ]
        if missing:
            found.append(f"the safety box lacks a warning sign: {missing[0]!r}")
    if "](" in email.text:
        found.append("the text part has Markdown link syntax; write 'Label: https://...'")
    for img in _IMG.findall(email.html):
        if not _ALT.search(img):
            found.append(f"an image has no alt text: {img[:80]}")
    if require_https:
        for href in _HREF.findall(email.html):
            if not href.startswith(("https://", "mailto:", "tel:")):
                found.append(f"link is not absolute https: {href}")
    return found


def write_gallery(out: Path, samples: list[Sample]) -> list[Path]:
    """Write each sample as .html and .txt plus an index page; return the HTML files."""
    out.mkdir(parents=True, exist_ok=True)
    pages: list[Path] = []
    rows = []
    for sample in samples:
        stem = sample.name.replace("/", "__")
        html_path = out / f"{stem}.html"
        html_path.write_text(sample.email.html, encoding="utf-8")
        (out / f"{stem}.txt").write_text(
            f"Subject: {sample.email.subject}\n\n{sample.email.text}", encoding="utf-8"
        )
        pages.append(html_path)
        rows.append(f'<li><a href="{stem}.html">{sample.name}</a>: {sample.email.subject}</li>')
    (out / "index.html").write_text(
        "<!DOCTYPE html><meta charset=utf-8><title>Nurture emails</title><h1>Every email</h1>"
        f"<ul>{''.join(rows)}</ul>",
        encoding="utf-8",
    )
    return pages
