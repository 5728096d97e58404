"""Render a step once for a whole batch, then fill in what differs per person.

A step's email is the same for every recipient except for a few values: the first name and
the signed unsubscribe and preferences links. `form_for` renders the step once with
stand-ins (rendering/slots.py) in their place; `fill` writes one person's values in.

A filled email must be byte for byte what rendering for that person gives, so a form is only
used when that is certain:
- the template may only print a per-person value or test that it is set: comparing,
  measuring or filtering one raises PersonDependent while the form renders, and the step is
  rendered per person. `{% if first_name %}` is true in the form, and only people whose
  name is set (see `fillable`) get an email filled in from it;
- the step is rendered with two sets of stand-ins that differ in case, length and word
  count; if the two do not agree once the stand-ins are swapped back, per person again;
- a value is only filled in when it is plain (`fillable`): nothing that escaping, the text
  part's whitespace rules, or a one-line subject would change. Anyone else's email is
  rendered for them;
- a form is shared only by people whose sources and whole context, their own values aside,
  are the same: everything a render depends on must be in one or the other.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nurture.delivery.channels.base import SharedBody
from nurture.rendering.budget import MAX_OUTPUT
from nurture.rendering.environment import RenderedEmail
from nurture.rendering.slots import Slot

log = logging.getLogger(__name__)

# What differs per person in a marketing email's context (messages/contexts.lead_context).
PERSON_KEYS = ("first_name", "unsubscribe_url", "preferences_url")

# A name: letters, single spaces, hyphens and dots between them; a link: our own signed URLs.
_PLAIN_NAME = re.compile(r"[^\W\d_]+(?:[ .-]?[^\W\d_]+)*\.?")
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.:/_~=+%-]+")


@dataclass(frozen=True, slots=True)
class Form:
    """A step rendered once: every part with a token where each per-person value goes."""

    rendered: RenderedEmail
    tokens: Mapping[str, str]  # context key -> its token in the parts
    # The body parts as a provider that fills in per recipient (SendGrid) takes them.
    body: SharedBody


def _tokens(nonce: str, *, other: bool) -> dict[str, str]:
    """Two token sets that differ in case, length and word count, and that escaping leaves be."""
    if other:
        return {k: f"%Nurture {nonce.upper()} {k.upper()} stand in%" for k in PERSON_KEYS}
    return {k: f"%nurture-{nonce}-{k}%" for k in PERSON_KEYS}


def _swap(rendered: RenderedEmail, pairs: Mapping[str, str]) -> RenderedEmail:
    def sub(part: str) -> str:
        for old, new in pairs.items():
            part = part.replace(old, new)
        return part

    r = rendered
    return RenderedEmail(sub(r.subject), sub(r.preheader), sub(r.html), sub(r.text))


def form_for(
    render: Callable[[dict[str, Any]], RenderedEmail], context: Mapping[str, Any]
) -> Form | None:
    """Render once with stand-ins for the per-person values, or None: render per person."""
    nonce = secrets.token_hex(5)
    first, second = _tokens(nonce, other=False), _tokens(nonce, other=True)
    try:
        one = render({**context, **{k: Slot(t) for k, t in first.items()}})
        two = render({**context, **{k: Slot(t) for k, t in second.items()}})
    except Exception as exc:  # noqa: BLE001 - any doubt (or a broken template): per person
        log.debug("rendered per person: %s: %s", type(exc).__name__, exc)
        return None
    if _swap(two, {second[k]: first[k] for k in PERSON_KEYS}) != one:
        return None
    return Form(one, first, SharedBody(one.html, one.text))


def fillable(values: Mapping[str, Any]) -> bool:
    """Whether filling these values into a form gives exactly what rendering them would."""
    for key, value in values.items():
        if not isinstance(value, str):
            return False
        pattern = _PLAIN_URL if key.endswith("_url") else _PLAIN_NAME
        if pattern.fullmatch(value) is None:
            return False
    return True


def substitutions(form: Form, values: Mapping[str, str]) -> dict[str, str]:
    """Each of the form's tokens with the value that replaces it for one person."""
    return {form.tokens[k]: values[k] for k in PERSON_KEYS}


def fill(form: Form, values: Mapping[str, str]) -> RenderedEmail:
    """Write one person's values into a form."""
    return _swap(form.rendered, substitutions(form, values))


class Forms:
    """The forms of one batch: each step's content rendered at most twice, whoever it is for."""

    def __init__(self) -> None:
        self._forms: dict[object, Form | None] = {}

    def render(
        self,
        key: object,
        render: Callable[[dict[str, Any]], RenderedEmail],
        context: dict[str, Any],
    ) -> tuple[RenderedEmail, Form | None]:
        """Render `context`'s email, through the form for `key` when it may be used."""
        values = {k: context[k] for k in PERSON_KEYS}
        if not fillable(values):
            return render(context), None
        shared = {k: v for k, v in context.items() if k not in PERSON_KEYS}
        # Keyed by everything else the render reads too, so two people whose contexts differ
        # in anything but their own values (a language, say) never share a form.
        full_key = (key, repr(sorted(shared.items())))
        if full_key not in self._forms:
            self._forms[full_key] = form_for(render, shared)
        form = self._forms[full_key]
        if form is None:
            return render(context), None
        filled = fill(form, values)
        if max(len(filled.html), len(filled.text)) > MAX_OUTPUT:
            # Stand-ins are short and a person's values may be long: near the output limit,
            # rendering for this person decides (and refuses an email that writes too much).
            return render(context), None
        return filled, form
