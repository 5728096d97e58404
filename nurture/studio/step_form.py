"""The step editor's form: its fields, the conditions offered, and the checks run on save."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError, ValidationInfo, field_validator

from nurture.leads.models import NumbnessType
from nurture.sequences import checks
from nurture.sequences.files import (
    StepSpec,
    tidy_lines,
)
from nurture.sequences.models import Step, StepKind
from nurture.web import field_errors

CONDITIONS = {
    "": "Always send",
    "not_booked": "Only if they have not booked",
    "clicked_previous": "Only if they clicked the previous email",
    "review_due": "Only if a review request is due (visits, cool-down)",
}


class StepForm(BaseModel):
    """The step editor's fields as typed; checked by StepSpec before anything is saved."""

    key: str = ""
    kind: str = StepKind.EDUCATION.value
    delay_days: str = "0"
    delay_minutes: str = "0"
    condition: str = ""
    subject: str = ""
    preheader: str = ""
    # "markdown" or "html"; a client that sends no format has written whichever body it filled.
    format: str = ""
    markdown: str = ""
    html: str = ""
    text: str = ""

    @field_validator("subject", "preheader", "markdown", "html", "text")
    @classmethod
    def _tidy(cls, value: str, info: ValidationInfo) -> str:
        # Before anything is checked or previewed, so the preview shows what will be saved.
        return tidy_lines(value, markdown=info.field_name == "markdown")

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
