"""Checks a step must pass before it is saved: template errors, privacy, links and size."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError

from nurture.core import headers
from nurture.core.web_address import has_web_host
from nurture.leads.models import NumbnessType
from nurture.messages.contexts import lead_context
from nurture.messages.preview import (
    MAX_BYTES,
    Sample,
    problems,
    sample_lead,
)
from nurture.messages.privacy_words import CONDITION_WORDS
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.rendering.limits import TemplateLimitError, limits, template_line
from nurture.rendering.markdown import MarkdownTooLong, markdown_template
from nurture.sequences.files import SequenceSpec, VariantSpec
from nurture.sequences.translations import TranslationSpec, language_name

# What a step may use; the footer's links and the clinic's details come from the layout.
VARIABLES = {
    "first_name": "the lead's first name (may be empty)",
    "booking_url": "the clinic's booking page, with campaign tags",
    "review_url": "the clinic's review page (empty when none is set)",
    "preferences_url": "the lead's preference page",
    "unsubscribe_url": "one-click unsubscribe",
    "clinic": "clinic.name, clinic.address, clinic.phone",
    "location": "the lead's location: location.name, .address, .phone, .map_url, .booking_url",
    "base_url": "this service's address",
    "marketing": "always true in a sequence email",
}
FIELDS = {
    "subject": "Subject",
    "preheader": "Preheader",
    "html": "HTML body",
    "markdown": "Markdown body",
    "text": "Text body",
}
_HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""", re.I)
_UNREADABLE = ("template syntax error", "the template cannot be read")
_ALLOWED_LINK = ("https://", "mailto:", "tel:", "{{", "#")
# The first name is the only variable that differs between leads, so a step is also rendered
# for the names a branch on it could treat differently: none, and the longest a lead may have
# (with characters HTML escaping lengthens). The size check applies to the largest rendering.
OTHER_FIRST_NAMES = {
    "an empty first name": "",
    "a 100-character first name": ("Anne-Sophie O'Neill & " * 5)[:100],
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a step; errors block saving, warnings do not."""

    field: str
    message: str
    line: int | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{FIELDS.get(self.field, self.field)}"
        if self.line is not None:
            where += f", line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class StepSource:
    """The editable parts of a step; a body written in Markdown is checked as that."""

    subject: str
    preheader: str
    html: str
    text: str | None
    markdown: str | None = None

    @property
    def body_field(self) -> str:
        """Name the field that holds what the author wrote for the body."""
        return "html" if self.markdown is None else "markdown"

    @property
    def body(self) -> str:
        """Return the body as written, in HTML or Markdown."""
        return self.html if self.markdown is None else self.markdown

    @property
    def body_html(self) -> str:
        """Return the body as the HTML template that renders it."""
        return self.html if self.markdown is None else markdown_template(self.markdown)


def _syntax(source: StepSource) -> list[Problem]:
    env = get_renderer().text_env
    found: list[Problem] = []
    for field, text in (
        ("subject", source.subject),
        ("preheader", source.preheader),
        (source.body_field, source.body),
        ("text", source.text or ""),
    ):
        try:
            tree = env.parse(text)
        except TemplateSyntaxError as exc:
            message = f"{_UNREADABLE[0]}: {exc.message}"
            found.append(Problem(field, message, exc.lineno))
            continue
        except Exception as exc:  # noqa: BLE001 - e.g. nesting too deep: a message, never a 500
            found.append(Problem(field, f"{_UNREADABLE[1]}: {exc}"))
            continue
        for name in sorted(meta.find_undeclared_variables(tree) - VARIABLES.keys()):
            line = next((i for i, row in enumerate(text.splitlines(), 1) if name in row), None)
            found.append(
                Problem(
                    field,
                    f"unknown variable '{name}'; a step can use: {', '.join(VARIABLES)}",
                    line,
                )
            )
    return found


def link_problem(href: str, own_address: str = "") -> str | None:
    """Say what is wrong with a link as an email would send it, or None when it works.

    A link must be https with a web address (a host), an email address (mailto:), a phone
    number (tel:), or a place in the email (#). Links to this service's own pages (the
    preference and unsubscribe links) may use its own address, whatever its scheme.
    """
    href = href.strip()
    if not href:
        return "a link has no address: fill in where it goes"
    if own_address and href.startswith(own_address.rstrip("/") + "/"):
        return None
    lowered = href.lower()
    if lowered.startswith(("mailto:", "tel:")):
        return None if href.split(":", 1)[1].strip() else f"a link has no address: {href}"
    if href.startswith("#"):
        # "#" alone is the placeholder people type for "link to come": it goes nowhere.
        return None if href.strip("#") else "a link has no address (#): fill in where it goes"
    if not lowered.startswith("https://"):
        return f"link is not https: {href}"
    if not has_web_host(href):
        return f"a link has no web address after https:// ({href}): fill in where it goes"
    return None


def _links(source: StepSource, html: str) -> list[Problem]:
    found = []
    for match in _HREF.finditer(html):
        href = match.group(1).strip()
        if "{{" in href or "{%" in href:
            continue  # checked once rendered (see _rendered_links)
        message = link_problem(href)
        if message is not None:
            # Markdown lines do not map onto the HTML made from them; the link itself is named.
            line = html.count("\n", 0, match.start()) + 1 if source.markdown is None else None
            found.append(Problem(source.body_field, message, line))
    return found


def _rendered_links(
    source: StepSource, body: str, context: dict[str, Any], written: str
) -> list[Problem]:
    """Check each link of the body as rendered: a variable or expression can make any link.

    Links written out in `written` (the body before rendering) were checked already.
    """
    own = str(context.get("base_url") or "")
    checked = {m.group(1).strip() for m in _HREF.finditer(written)}
    found = []
    for match in _HREF.finditer(body):
        if match.group(1).strip() in checked:
            continue
        message = link_problem(match.group(1), own)
        if message is not None:
            found.append(Problem(source.body_field, f"{message} (as the email would send it)"))
    return found


def _subject_header(email: RenderedEmail) -> list[Problem]:
    """Refuse a subject that delivery would refuse (an encoded word hiding a line break)."""
    try:
        headers.text("Subject", email.subject)
    except headers.UnsafeHeader:
        return [
            Problem(
                "subject",
                "holds an encoded word ('=?...?=') that hides a line break; mail providers "
                "would refuse the email. Type the subject as plain words.",
            )
        ]
    return []


def render_for(
    source: StepSource,
    numbness_type: str,
    *,
    first_name: str | None = None,
    language: str | None = None,
    location_key: str | None = None,
) -> RenderedEmail:
    """Render a step as a sample lead of `numbness_type` (and `first_name`) would get it.

    With `language`, in that language's layout (the source must be the translation).
    """
    lead = sample_lead(numbness_type, location_key)
    if first_name is not None:
        lead.first_name = first_name
    return get_renderer().render_step(
        subject=source.subject,
        preheader=source.preheader,
        body_html=source.body_html,
        body_text=source.text or None,
        context=lead_context(lead, content="step-preview"),
        language=language,
    )


def _render_problem(exc: Exception, who: str = "", field: str = "html") -> Problem:
    """Describe an error raised while rendering, in words staff can act on."""
    line = template_line(exc) if field == "html" else None
    if who:
        who = f" (for a lead with {who})"
    if isinstance(exc, TemplateLimitError):
        return Problem(field, f"{exc}{who}; an email must stay small and simple", line)
    if isinstance(exc, SecurityError):
        return Problem(
            field,
            "the template tries to reach Python internals, which the sandbox refuses "
            f"({exc}). Use only the listed variables.",
            line,
        )
    return Problem(field, f"the template failed to render{who}: {exc}", line)


@dataclass(frozen=True, slots=True)
class Checked:
    """A step's problems, and the email it renders to (None when it does not render)."""

    problems: list[Problem]
    email: RenderedEmail | None

    @property
    def errors(self) -> list[Problem]:
        """Only the problems that block saving."""
        return [p for p in self.problems if p.severity == "error"]


def check_step(
    source: StepSource,
    numbness_type: str = NumbnessType.UNSURE,
    language: str | None = None,
    *,
    location_key: str | None = None,
) -> Checked:
    """Return every problem of a step and the step rendered for a sample lead of a type.

    A step's variables do not depend on the numbness type, which only picks the sample lead
    shown; they do depend on the first name, so the step is also rendered for the first names
    in OTHER_FIRST_NAMES, each within the same render limits.
    """
    # Every check that needs no rendering runs, whatever the others find, so staff see all
    # there is to fix at once rather than one stage at a time.
    found = _syntax(source)
    unreadable = any(p.message.startswith(_UNREADABLE) for p in found)
    unknown = any(p.message.startswith("unknown variable") for p in found)
    try:
        body_html: str | None = source.body_html
    except MarkdownTooLong as exc:
        body_html = None
        found.append(Problem(source.body_field, str(exc)))
    if body_html is not None:
        found += _links(source, body_html)
    if CONDITION_WORDS.search(source.subject) or CONDITION_WORDS.search(source.preheader):
        found.append(
            Problem(
                "subject",
                "names a condition or symptom; subject lines and preheaders are visible on "
                "lock screens and shared inboxes, so keep health details out of them",
            )
        )
    if unreadable or body_html is None:
        return Checked(found, None)  # a template that cannot be read cannot be rendered

    def failed(exc: Exception, who: str = "") -> list[Problem]:
        if unknown and isinstance(exc, UndefinedError):
            return []  # the unknown variable is reported already, at its line
        return [_render_problem(exc, who, source.body_field)]

    with limits():  # one budget for every rendering, so a check is bounded as a whole
        try:
            email = render_for(source, numbness_type, language=language, location_key=location_key)
            lead = sample_lead(numbness_type, location_key)
            context = lead_context(lead, content="step-preview")
            body = get_renderer().render_body(body_html, context)
        except Exception as exc:  # noqa: BLE001 - any template error is a message at the step
            return Checked([*found, *failed(exc)], None)
        found += _rendered_links(source, body, context, body_html)
        found += _subject_header(email)
        others: dict[str, RenderedEmail] = {}
        for who, name in OTHER_FIRST_NAMES.items():
            try:
                others[who] = render_for(source, numbness_type, first_name=name, language=language)
            except Exception as exc:  # noqa: BLE001
                return Checked([*found, *failed(exc, who)], email)
    found += _sizes(email, others)
    for message in problems(Sample("step", True, email), require_https=False):
        if message.startswith("subject or preheader names a condition"):
            continue  # reported above, against the source rather than the rendering
        if message.endswith(f"Gmail clips emails over {MAX_BYTES}"):
            continue  # reported by _sizes, for the largest rendering
        if message.startswith("subject is"):
            found.append(Problem("subject", message, severity="warning"))
        else:
            found.append(Problem("html", message))
    return Checked(found, email)


def _size(email: RenderedEmail) -> int:
    return len(email.html.encode()) + len(email.text.encode())


def _sizes(email: RenderedEmail, others: dict[str, RenderedEmail]) -> list[Problem]:
    """Report the largest of the step's renderings if Gmail would clip it."""
    who, largest = max(others.items(), key=lambda item: _size(item[1]), default=("", email))
    if _size(email) >= _size(largest):
        who, largest = "", email
    size = _size(largest)
    if size <= MAX_BYTES:
        return []
    lead = f" for a lead with {who}" if who else ""
    return [Problem("html", f"{size} bytes{lead}; Gmail clips emails over {MAX_BYTES}")]


def with_variant(base: StepSource, variant: VariantSpec) -> StepSource:
    """Return what an arm of a test sends: the step's source with the arm's fields over it.

    As at send time (nurture.sequences.variants.apply): an arm with a body of its own and no
    text part gets a text part derived from its body, not the step's.
    """
    new_body = variant.markdown is not None or variant.html is not None
    return StepSource(
        subject=base.subject if variant.subject is None else variant.subject,
        preheader=base.preheader if variant.preheader is None else variant.preheader,
        html=(variant.html or "") if new_body else base.html,
        text=variant.text if variant.text is not None else (None if new_body else base.text),
        markdown=variant.markdown if new_body else base.markdown,
    )


def translated(base: StepSource, fields: TranslationSpec | VariantSpec) -> StepSource:
    """Return what a translation (or an arm) sends: its fields over `base`.

    As at send time (nurture.sequences.variants.overlay): a body of its own without a text
    part gets a text part derived from that body.
    """
    new_body = fields.markdown is not None or fields.html is not None
    return StepSource(
        subject=base.subject if fields.subject is None else fields.subject,
        preheader=base.preheader if fields.preheader is None else fields.preheader,
        html=(fields.html or "") if new_body else base.html,
        text=fields.text if fields.text is not None else (None if new_body else base.text),
        markdown=fields.markdown if new_body else base.markdown,
    )


def spec_problems(spec: SequenceSpec) -> list[str]:
    """Return what blocks each step of a sequence file from being saved, naming the step.

    Each variant of a step is checked as what it sends, and named; a problem it only
    inherits from the step is reported once, for the step. Each translation is checked as
    what it sends in its language (layout included), named by step, variant and language.
    """
    kind = _kind(spec)
    found = []
    for position, step in enumerate(spec.steps, start=1):
        where = f"step {position} ({step.key})"
        source = StepSource(step.subject, step.preheader, step.html or "", step.text, step.markdown)
        own = [str(p) for p in check_step(source, kind).errors]
        found += [f"{where}: {p}" for p in own]
        for variant in step.variants or []:
            for problem in check_step(with_variant(source, variant), kind).errors:
                if str(problem) not in own:
                    found.append(f"{where}, variant {variant.key}: {problem}")
    return found + translation_problems(spec)


def _kind(spec: SequenceSpec) -> str:
    return spec.audience if spec.audience in set(NumbnessType) else NumbnessType.UNSURE


def translation_problems(spec: SequenceSpec) -> list[str]:
    """Return what blocks the translations of a sequence, named by step, variant and language."""
    kind = _kind(spec)
    found = []
    for position, step in enumerate(spec.steps, start=1):
        where = f"step {position} ({step.key})"
        source = StepSource(step.subject, step.preheader, step.html or "", step.text, step.markdown)
        for language, fields in (step.translations or {}).items():
            base = translated(source, fields)
            named = language_name(language)
            in_language = [str(p) for p in check_step(base, kind, language).errors]
            found += [f"{where}, {named}: {p}" for p in in_language]
            for variant in step.variants or []:
                arm = (variant.translations or {}).get(language)
                if arm is None:
                    continue
                for problem in check_step(translated(base, arm), kind, language).errors:
                    if str(problem) not in in_language:
                        found.append(f"{where}, variant {variant.key}, {named}: {problem}")
    return found
