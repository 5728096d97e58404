"""The form of one variant of a step's A/B test: what it changes, checked as what it sends."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from nurture.http.errors import field_errors
from nurture.leads.models import NumbnessType
from nurture.sequences import checks
from nurture.sequences.files import VariantSpec
from nurture.sequences.models import Step, StepVariant
from nurture.sequences.variants import spec_dict
from nurture.studio.step_form import ContentFields

# The body an arm sends: the step's own, or one of its own in either format.
SAME_BODY = "step"


class VariantForm(ContentFields):
    """A variant's fields as typed; an empty field keeps the step's, as in a sequence file."""

    key: str = ""
    # Ticked: this arm sends no preheader at all (an empty field means "the step's").
    no_preheader: str = ""
    format: str = SAME_BODY  # "step", "markdown" or "html"

    @property
    def in_markdown(self) -> bool:
        """Tell whether this arm's own body is written in Markdown."""
        return self.format == "markdown"

    @classmethod
    def of(cls, variant: StepVariant) -> VariantForm:
        """Fill the form from a stored arm."""
        own_body = variant.body_html is not None
        return cls(
            key=variant.key,
            subject=variant.subject or "",
            preheader=variant.preheader or "",
            no_preheader="1" if variant.preheader == "" else "",
            format=SAME_BODY if not own_body else "markdown" if variant.body_markdown else "html",
            markdown=variant.body_markdown or "",
            html=variant.body_html or "",
            text=variant.body_text or "",
        )

    def fields(self) -> dict[str, Any]:
        """Return the arm as a `variants:` entry of a sequence file (unset fields as None)."""
        return {
            "key": self.key.strip(),
            "subject": self.subject.strip() or None,
            "preheader": "" if self.no_preheader else (self.preheader.strip() or None),
            "markdown": self.markdown if self.format == "markdown" else None,
            "html": self.html if self.format == "html" else None,
            "text": self.text if self.text.strip() else None,
        }

    def source(self, step: Step) -> checks.StepSource:
        """Return what this arm sends as typed, over the saved step (valid or not)."""
        fields = self.fields()
        return checks.with_variant(step_source(step), VariantSpec.model_construct(**fields))


def step_source(step: Step) -> checks.StepSource:
    """Return a saved step's own content as the checks read it."""
    markdown = step.body_markdown
    html = "" if markdown is not None else step.body_html
    return checks.StepSource(step.subject, step.preheader, html, step.body_text, markdown)


def stored_source(step: Step, variant: StepVariant) -> checks.StepSource:
    """Return what a saved arm sends, over a step's content."""
    return checks.with_variant(step_source(step), VariantSpec.model_construct(**spec_dict(variant)))


def variant_dict(variant: StepVariant) -> dict[str, Any]:
    """Describe an arm as the audit log records it."""
    return spec_dict(variant) | {"position": variant.position}


def validate_variant(
    form: VariantForm, step: Step, variant: StepVariant, numbness_type: str = NumbnessType.UNSURE
) -> tuple[VariantSpec | None, checks.Checked]:
    """Check the fields, the key among the step's arms, then what the arm sends."""
    try:
        spec = VariantSpec.model_validate(form.fields())
    except ValidationError as exc:
        fields = field_errors(exc.errors())
        # A rule about the whole arm (it changes nothing, two bodies) has no one field.
        problems = [
            checks.Problem("variant" if name == "body" else name, message)
            for name, message in fields.items()
        ]
        return None, checks.Checked(problems, None)
    checked = checks.check_step(form.source(step), numbness_type)
    if any(v.key == spec.key and v.id != variant.id for v in step.variants):
        checked.problems.insert(0, checks.Problem("key", f"another variant is called '{spec.key}'"))
    return (None if checked.errors else spec), checked
