"""Checks a step must pass before it is saved: template errors, privacy, links and size."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from jinja2 import TemplateError, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError

from nurture.delivery.compose import lead_context
from nurture.leads.models import NumbnessType
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.rendering.preview import CONDITION_WORDS, Sample, problems, sample_lead

# What a step may use; the footer's links and the clinic's details come from the layout.
VARIABLES = {
    "first_name": "the lead's first name (may be empty)",
    "booking_url": "the clinic's booking page, with campaign tags",
    "preferences_url": "the lead's preference page",
    "unsubscribe_url": "one-click unsubscribe",
    "clinic": "clinic.name, clinic.address, clinic.phone",
    "base_url": "this service's address",
    "marketing": "always true in a sequence email",
}
FIELDS = {
    "subject": "Subject",
    "preheader": "Preheader",
    "html": "HTML body",
    "text": "Text body",
}
_HREF = re.compile(r"""href\s*=\s*["']([^"']*)["']""", re.I)
_ALLOWED_LINK = ("https://", "mailto:", "tel:", "{{", "#")


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
    """The editable parts of a step."""

    subject: str
    preheader: str
    html: str
    text: str | None


def _template_line(tb: TracebackType | None) -> int | None:
    """The line of the template where a rendering error happened (Jinja rewrites tracebacks)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _syntax(source: StepSource) -> list[Problem]:
    env = get_renderer().text_env
    found: list[Problem] = []
    for field, text in (
        ("subject", source.subject),
        ("preheader", source.preheader),
        ("html", source.html),
        ("text", source.text or ""),
    ):
        try:
            tree = env.parse(text)
        except TemplateSyntaxError as exc:
            found.append(Problem(field, f"template syntax error: {exc.message}", exc.lineno))
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


def _links(source: StepSource) -> list[Problem]:
    found = []
    for match in _HREF.finditer(source.html):
        href = match.group(1).strip()
        if not href.startswith(_ALLOWED_LINK):
            line = source.html.count("\n", 0, match.start()) + 1
            found.append(Problem("html", f"link is not https: {href or '(empty)'}", line))
    return found


def render_for(source: StepSource, numbness_type: str) -> RenderedEmail:
    """Render a step as a sample lead of `numbness_type` would get it."""
    lead = sample_lead(numbness_type)
    return get_renderer().render_step(
        subject=source.subject,
        preheader=source.preheader,
        body_html=source.html,
        body_text=source.text or None,
        context=lead_context(lead, content="step-preview"),
    )


def _render_problem(exc: Exception) -> Problem:
    """Describe an error raised while rendering, in words staff can act on."""
    line = _template_line(exc.__traceback__)
    if isinstance(exc, SecurityError):
        return Problem(
            "html",
            "the template tries to reach Python internals, which the sandbox refuses "
            f"({exc}). Use only the listed variables.",
            line,
        )
    return Problem("html", f"the template failed to render: {exc}", line)


@dataclass(frozen=True, slots=True)
class Checked:
    """A step's problems, and the email it renders to (None when it does not render)."""

    problems: list[Problem]
    email: RenderedEmail | None

    @property
    def errors(self) -> list[Problem]:
        """Only the problems that block saving."""
        return [p for p in self.problems if p.severity == "error"]


def check_step(source: StepSource, numbness_type: str = NumbnessType.UNSURE) -> Checked:
    """Return every problem of a step and the step rendered for a sample lead of a type.

    A step's variables do not depend on the numbness type, so one rendering shows every
    problem the rendered email can have; the type only picks which sample lead it shows.
    """
    found = _syntax(source) + _links(source)
    if any(p.severity == "error" for p in found):
        return Checked(found, None)  # rendering a broken template only repeats the errors
    if CONDITION_WORDS.search(source.subject) or CONDITION_WORDS.search(source.preheader):
        found.append(
            Problem(
                "subject",
                "names a condition or symptom; subject lines and preheaders are visible on "
                "lock screens and shared inboxes, so keep health details out of them",
            )
        )
    if not (source.text or "").strip():
        found.append(
            Problem(
                "text",
                "no text part written: one is derived from the HTML. Check it in the text "
                "preview, or use 'Fill from HTML' and edit it.",
                severity="warning",
            )
        )
    try:
        email = render_for(source, numbness_type)
    except (TemplateError, SecurityError) as exc:
        return Checked([*found, _render_problem(exc)], None)
    for message in problems(Sample("step", True, email), require_https=False):
        if message.startswith("subject or preheader names a condition"):
            continue  # reported above, against the source rather than the rendering
        if message.startswith("subject is"):
            found.append(Problem("subject", message, severity="warning"))
        else:
            found.append(Problem("html", message))
    return Checked(found, email)
