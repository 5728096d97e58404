"""The YAML format sequences are kept in (templates/emails/sequences/*.yml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nurture.sequences.models import StepKind


class WindowSpec(BaseModel):
    """Send window of a sequence, in the lead's local time."""

    model_config = ConfigDict(extra="forbid")

    start_hour: int = Field(default=9, ge=0, le=23)
    end_hour: int = Field(default=19, ge=1, le=24)
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.end_hour <= self.start_hour:
            raise ValueError("window end_hour must be after start_hour")
        if not self.weekdays or any(d < 1 or d > 7 for d in self.weekdays):
            raise ValueError("weekdays must be ISO numbers 1 (Monday) to 7 (Sunday)")
        return self


class StepSpec(BaseModel):
    """One step of a sequence file."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    kind: Literal["education", "booking_reminder"] = StepKind.EDUCATION.value
    delay_days: int = Field(default=0, ge=0, le=365)
    delay_minutes: int = Field(default=0, ge=0, le=60 * 24)
    subject: str = Field(min_length=1, max_length=300)
    preheader: str = Field(default="", max_length=300)
    condition: Literal["not_booked", "clicked_previous"] | None = None
    html: str = Field(min_length=1)
    text: str | None = None

    @field_validator("subject", "preheader")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if "\n" in value.strip() or "\r" in value:
            raise ValueError("must be a single line")
        return value.strip()


class SequenceSpec(BaseModel):
    """A whole sequence file."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    name: str = Field(min_length=1, max_length=200)
    audience: str = Field(min_length=1, max_length=40)
    window: WindowSpec = Field(default_factory=WindowSpec)
    steps: list[StepSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_keys(self) -> SequenceSpec:
        keys = [s.key for s in self.steps]
        if len(keys) != len(set(keys)):
            raise ValueError("step keys must be unique within a sequence")
        return self


def parse_sequence(text: str) -> SequenceSpec:
    """Parse and validate the YAML text of a sequence file."""
    return SequenceSpec.model_validate(yaml.safe_load(text))


def read_sequence_file(path: Path) -> SequenceSpec:
    """Parse and validate one YAML sequence file."""
    return parse_sequence(path.read_text(encoding="utf-8"))


def sequence_files(path: Path) -> list[Path]:
    """Return the sequence files at `path` (a file, or every *.yml/*.yaml in a folder)."""
    if path.is_dir():
        return sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
    return [path]
