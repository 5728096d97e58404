"""The YAML format sequences are kept in (templates/emails/sequences/*.yml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from nurture.rendering.limits import MAX_SIZE
from nurture.rendering.markdown import markdown_template
from nurture.sequences.models import Goal, StepKind, Trigger
from nurture.sequences.tidy import MessageText
from nurture.sequences.tidy import tidy_lines as tidy_lines  # where the studio reads it
from nurture.sequences.translations import Translations, check_raw, normalised

TriggerName = Literal["signup", "booked", "attended", "no_show", "cancelled_not_rebooked", "lapsed"]
GoalName = Literal["booked", "attended"]

# libyaml's parser when PyYAML was built with it (the usual wheels are): the same safe subset,
# several times faster than the pure-Python one on the shipped sequence files.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Far above any sequence (the shipped ones are 4 to 6 KB), small enough to read at once.
MAX_FILE_BYTES = 2 * 1024 * 1024


class WindowSpec(BaseModel):
    """Send window of a sequence, in the lead's local time."""

    model_config = ConfigDict(extra="forbid")

    start_hour: int = Field(default=9, ge=0, le=23)
    end_hour: int = Field(default=19, ge=1, le=24)
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.end_hour <= self.start_hour:
            raise ValueError(
                "the send window must end after it starts (the 'until' hour is too early)"
            )
        if not self.weekdays or any(d < 1 or d > 7 for d in self.weekdays):
            raise ValueError("weekdays must be ISO numbers 1 (Monday) to 7 (Sunday)")
        return self


class WaitSpec(BaseModel):
    """Wait for an event, at most so many days: sent at the time-out, skipped if it comes first."""

    model_config = ConfigDict(extra="forbid")

    until: GoalName
    at_most_days: int = Field(ge=1, le=365)


class ReentrySpec(BaseModel):
    """A person may start the sequence again once this many days have passed since they last did."""

    model_config = ConfigDict(extra="forbid")

    after_days: int = Field(ge=1, le=3650)


MIN_VARIANTS = 2
MAX_VARIANTS = 4
VARIANT_FIELDS = ("subject", "preheader", "markdown", "html", "text")
_VARIANT_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class VariantSpec(MessageText):
    """One arm of a step's A/B test: the fields it sets replace the step's for its people.

    A step's `variants` list holds every arm (2 to 4), the control included: each enrollment
    gets exactly one of them, and the step's own fields are what an arm leaves unset. An arm
    that replaces the body without a text part gets a text part derived from its own body.
    """

    model_config = ConfigDict(extra="forbid")

    key: str
    subject: str | None = Field(default=None, min_length=1, max_length=300)
    preheader: str | None = Field(default=None, max_length=300)
    markdown: str | None = Field(default=None, min_length=1, max_length=MAX_SIZE)
    html: str | None = Field(default=None, min_length=1)
    text: str | None = None
    # The arm in other languages (see nurture.sequences.translations).
    translations: Translations | None = None

    @property
    def body_html(self) -> str | None:
        """Return the arm's body as an HTML template, or None when it keeps the step's."""
        if self.markdown is not None:
            return markdown_template(self.markdown)
        return self.html

    @field_validator("key")
    @classmethod
    def _short_key(cls, value: str) -> str:
        value = value.strip()
        if not _VARIANT_KEY.fullmatch(value):
            raise ValueError(
                "a variant key is 1 to 40 lowercase letters, digits and dashes, "
                f"starting with a letter or digit (like a, b or short-subject), not {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _overrides(self) -> VariantSpec:
        if self.markdown is not None and self.html is not None:
            raise ValueError(
                f"variant {self.key!r}: write its body as either `markdown` or `html`, not both"
            )
        if all(getattr(self, name) is None for name in VARIANT_FIELDS):
            raise ValueError(
                f"variant {self.key!r} changes nothing: give it at least one of "
                f"{', '.join(VARIANT_FIELDS)}"
            )
        return self


class StepSpec(MessageText):
    """One step of a sequence file."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    kind: Literal["education", "booking_reminder"] = StepKind.EDUCATION.value
    delay_days: int = Field(default=0, ge=0, le=365)
    delay_minutes: int = Field(default=0, ge=0, le=60 * 24)
    subject: str = Field(min_length=1, max_length=300)
    preheader: str = Field(default="", max_length=300)
    condition: Literal["not_booked", "clicked_previous", "review_due"] | None = None
    wait: WaitSpec | None = None
    # The body: `markdown` (what the studio writes by default) or `html`, never both.
    markdown: str | None = Field(default=None, min_length=1, max_length=MAX_SIZE)
    html: str | None = Field(default=None, min_length=1)
    text: str | None = None
    # An A/B test: every arm, each enrollment gets one (see VariantSpec).
    variants: list[VariantSpec] | None = None
    # The step in other languages (see nurture.sequences.translations).
    translations: Translations | None = None

    @model_validator(mode="before")
    @classmethod
    def _translations_named(cls, data: object) -> object:
        # Checked before the typed parse, so an error names the step, variant and language.
        if not isinstance(data, dict):
            return data
        where = f"step {data.get('key')!r}"
        check_raw(data.get("translations"), where)
        data = {**data, "translations": normalised(data.get("translations"))}
        arms = data.get("variants")
        if isinstance(arms, list):
            named = []
            for arm in arms:
                if isinstance(arm, dict):
                    check_raw(arm.get("translations"), f"{where}, variant {arm.get('key')!r}")
                    arm = {**arm, "translations": normalised(arm.get("translations"))}
                named.append(arm)
            data["variants"] = named
        return data

    @property
    def body_html(self) -> str:
        """Return the step's body as an HTML template (made from the Markdown if written so)."""
        if self.markdown is not None:
            return markdown_template(self.markdown)
        return self.html or ""

    @model_validator(mode="after")
    def _one_body(self) -> StepSpec:
        if (self.markdown is None) == (self.html is None):
            raise ValueError(
                f"step {self.key!r}: write the body as either `markdown` or `html` (one of them)"
            )
        return self

    @model_validator(mode="after")
    def _arms(self) -> StepSpec:
        if self.variants is None:
            return self
        if not MIN_VARIANTS <= len(self.variants) <= MAX_VARIANTS:
            raise ValueError(
                f"step {self.key!r}: a test has {MIN_VARIANTS} to {MAX_VARIANTS} variants, "
                f"not {len(self.variants)}"
            )
        keys = [v.key for v in self.variants]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(
                f"step {self.key!r}: variant keys must be unique; repeated: {', '.join(repeated)}"
            )
        return self

    @model_validator(mode="after")
    def _one_timer(self) -> StepSpec:
        if self.wait is not None and (self.delay_days or self.delay_minutes):
            raise ValueError(
                f"step {self.key!r}: a step with `wait` is timed by its at_most_days; "
                "remove delay_days and delay_minutes"
            )
        return self


# What each event means, for messages staff read (the file names them in the goal's words).
_EVENT_WORDS = {
    "signup": "a person confirms their signup",
    "booked": "a visit is booked",
    "attended": "a person comes to a visit",
    "no_show": "a person misses a visit",
    "cancelled_not_rebooked": "a visit is cancelled and not rebooked",
    "lapsed": "a person has not been back for a while",
}


class SequenceSpec(BaseModel):
    """A whole sequence file."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    name: str = Field(min_length=1, max_length=200)
    audience: str = Field(min_length=1, max_length=40)
    # Unset (None) means the behaviour before these keys existed: started at signup for its
    # audience, ended by a booking, open again to anyone not in it right now.
    trigger: TriggerName | None = None
    goal: list[GoalName] | None = None
    reentry: Literal["always", "never"] | ReentrySpec | None = None
    window: WindowSpec = Field(default_factory=WindowSpec)
    steps: list[StepSpec] = Field(min_length=1)

    @field_validator("goal", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _unique_keys(self) -> SequenceSpec:
        keys = [s.key for s in self.steps]
        if len(keys) != len(set(keys)):
            raise ValueError("step keys must be unique within a sequence")
        return self

    @model_validator(mode="after")
    def _journey(self) -> SequenceSpec:
        # Spelled-out defaults are stored as unset, so a file says the same thing either way.
        if self.trigger == "signup":
            self.trigger = None
        if self.goal is not None:
            self.goal = sorted(set(self.goal))
            if self.goal == [Goal.BOOKED]:
                self.goal = None
        if self.reentry == "always":
            self.reentry = None
        trigger = self.trigger or Trigger.SIGNUP
        if trigger in self.goals:
            raise ValueError(
                f"this sequence starts when {_EVENT_WORDS.get(trigger, trigger)}, so it cannot "
                "also stop then: it would end at once. Choose another way to stop it."
            )
        return self

    @property
    def goals(self) -> list[str]:
        """Return the events that end this sequence (a booking, unless the file says)."""
        return [Goal.BOOKED.value] if self.goal is None else list(self.goal)


class SequenceFileError(ValueError):
    """A sequence file that is refused before its content is read: too large, or with aliases."""


def _refuse_aliases(text: str) -> None:
    """Raise SequenceFileError at the first YAML anchor or alias, before anything is built.

    An alias repeats a node without its size showing in the file: ten nested levels of them
    make 481 bytes expand past any memory. Sequence files never need them.
    """
    for event in yaml.parse(text, Loader=_SAFE_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark is not None else 1
            raise SequenceFileError(
                f"line {line}: anchors and aliases (& and *) are not allowed in sequence "
                "files; write each text out in full"
            )


def parse_sequence(text: str) -> SequenceSpec:
    """Parse and validate the YAML text of a sequence file (no aliases, at most MAX_FILE_BYTES)."""
    if len(text) > MAX_FILE_BYTES:
        raise SequenceFileError(_too_large())
    _refuse_aliases(text)
    return SequenceSpec.model_validate(yaml.load(text, Loader=_SAFE_LOADER))


def _too_large() -> str:
    return f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"


def read_sequence_file(path: Path) -> SequenceSpec:
    """Parse and validate one YAML sequence file, refusing one too large before reading it."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SequenceFileError(f"{path.name}: {_too_large()}")
    try:
        return parse_sequence(path.read_text(encoding="utf-8"))
    except SequenceFileError as exc:
        raise SequenceFileError(f"{path.name}: {exc}") from None


def sequence_files(path: Path) -> list[Path]:
    """Return the sequence files at `path` (a file, or every *.yml/*.yaml in a folder)."""
    if path.is_dir():
        return sorted([*path.glob("*.yml"), *path.glob("*.yaml")])
    return [path]
