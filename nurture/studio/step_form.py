"""The step editor's form: its fields, the conditions offered, and the checks run on save."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator

from nurture.http.errors import field_errors
from nurture.leads.models import NumbnessType
from nurture.rendering.environment import html_to_text
from nurture.rendering.markdown import MarkdownTooLong
from nurture.sequences import checks
from nurture.sequences.files import (
    StepSpec,
    tidy_lines,
)
from nurture.sequences.models import Step, StepKind

CONDITIONS = {
    "": "Always send",
    "not_booked": "Only if they have not booked",
    "clicked_previous": "Only if they clicked the previous email",
    "review_due": "Only if a review request is due (visits, cool-down)",
}


class ContentFields(BaseModel):
    """What an email says, as typed in a step's or a variant's form, with line ends tidied."""

    subject: str = ""
    preheader: str = ""
    markdown: str = ""
    html: str = ""
    text: str = ""

    @field_validator("subject", "preheader", "markdown", "html", "text")
    @classmethod
    def _tidy(cls, value: str, info: ValidationInfo) -> str:
        # Before anything is checked or previewed, so the preview shows what will be saved.
        return tidy_lines(value, markdown=info.field_name == "markdown")


class StepForm(ContentFields):
    """The step editor's fields as typed; checked by StepSpec before anything is saved."""

    key: str = ""
    kind: str = StepKind.EDUCATION.value
    delay_days: str = "0"
    delay_minutes: str = "0"
    condition: str = ""
    # "markdown" or "html"; a client that sends no format has written whichever body it filled.
    format: str = ""

    @property
    def in_markdown(self) -> bool:
        """Tell whether the body is written in Markdown."""
        if self.format in ("markdown", "html"):
            return self.format == "markdown"
        return bool(self.markdown.strip()) and not self.html.strip()

    @classmethod
    def of(cls, step: Step) -> StepForm:
        return cls(
            key=step.key,
            kind=step.kind,
            delay_days=str(step.delay_days),
            delay_minutes=str(step.delay_minutes),
            condition=step.condition or "",
            subject=step.subject,
            preheader=step.preheader,
            format="html" if step.body_markdown is None else "markdown",
            markdown=step.body_markdown or "",
            # For a Markdown step, the HTML made from it: where the advanced mode starts.
            html=step.body_html,
            text=step.body_text or "",
        )

    def source(self) -> checks.StepSource:
        if self.in_markdown:
            return checks.StepSource(
                self.subject, self.preheader, "", self.text or None, self.markdown
            )
        return checks.StepSource(self.subject, self.preheader, self.html, self.text or None)


def step_dict(step: Step) -> dict[str, Any]:
    """Describe a step as the audit log records it."""
    return StepForm.of(step).model_dump() | {"position": step.position}


def validate_step(
    form: StepForm, numbness_type: str = NumbnessType.UNSURE
) -> tuple[StepSpec | None, checks.Checked]:
    """Check the fields, then the templates; return the spec only when nothing blocks it."""
    try:
        spec = StepSpec.model_validate(
            {
                "key": form.key.strip(),
                "kind": form.kind,
                "delay_days": form.delay_days.strip() or "0",
                "delay_minutes": form.delay_minutes.strip() or "0",
                "condition": form.condition or None,
                "subject": form.subject,
                "preheader": form.preheader,
                "markdown": form.markdown if form.in_markdown else None,
                "html": None if form.in_markdown else form.html,
                "text": form.text if form.text.strip() else None,
            }
        )
    except ValidationError as exc:
        fields = field_errors(exc.errors())
        problems = [checks.Problem(name, message) for name, message in fields.items()]
        return None, checks.Checked(problems, None)
    checked = checks.check_step(form.source(), numbness_type)
    return (None if checked.errors else spec), checked


def preview_json(
    checked: checks.Checked, source: checks.StepSource, *, in_markdown: bool, fill_text: bool
) -> JSONResponse:
    """Answer the live preview: the problems, the email if it renders, and the HTML it makes."""
    result: dict[str, Any] = {
        "problems": [
            {"field": p.field, "line": p.line, "message": str(p), "severity": p.severity}
            for p in checked.problems
        ]
    }
    email = checked.email
    if email is not None:  # shown even with problems, as long as it renders
        result.update(
            subject=email.subject, preheader=email.preheader, html=email.html, text=email.text
        )
    try:
        body_html = source.body_html
    except MarkdownTooLong:
        body_html = None  # the problems above say so
    if body_html is not None and in_markdown:
        result["body_html"] = body_html  # where the advanced HTML mode starts
    if fill_text and body_html is not None:
        result["derived_text"] = html_to_text(body_html)
    return JSONResponse(result, headers={"Cache-Control": "no-store"})
