"""A step rendered once and filled in per person is byte for byte the per-person email.

Templates whose output depends on a per-person value other than by printing it are found
and rendered per person, so they are never sent wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from nurture.core import clock
from nurture.delivery.channels.base import checked
from nurture.delivery.channels.mime import build_mime
from nurture.delivery.compose import compose
from nurture.delivery.facts import gather
from nurture.delivery.forms import Forms
from nurture.enrollments import service as enrollments
from nurture.messages.contexts import lead_context
from nurture.outbox.models import Message
from nurture.rendering.environment import RenderedEmail, get_renderer
from tests.factories import make_lead

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
NAMES = [
    "Robin",
    "Mary Ann",
    "Anne-Marie",
    "J.R.",
    "Zoë",
    "",
    "O'Brien",
    "<b>Al</b>",
    "A  B",
    "x&y",
]

# Each uses first_name other than by printing it; every one must come out as rendered per person.
DEPENDENT = [
    "{{ first_name|upper }}",
    "{{ first_name|length }}",
    "{{ first_name|wordcount }}",
    "{{ first_name|truncate(3, True, '') }}",
    "{{ first_name[:1] }}",
    "{{ first_name ~ '!' }}",
    "{{ '%s'|format(first_name) }}",
    "{{ {'Robin': 'hello Robin'}.get(first_name, '') }}",
    "{% if first_name == 'Robin' %}R{% endif %}",
    "{% for c in first_name %}{{ c }}.{% endfor %}",
    "{{ first_name|replace('a', 'e') }}",
    "{{ first_name.upper() }}",
    "{{ first_name|e }}",
    "{{ unsubscribe_url|urlencode }}",
    "{% if first_name is string %}s{% endif %}{{ first_name is callable }}",
    "{{ first_name is escaped }}",
    "{{ first_name|string }}{{ first_name|safe }}",
    "{{ [first_name]|join(',') }}{{ first_name|reverse }}",
    "{{ 'a' in first_name }}{{ first_name in ['Robin'] }}",
]
PLAIN = [
    # Testing that a value is set is allowed: only set values are filled in.
    "Hi{% if first_name %}, {{ first_name }}{% endif %}!",
    "{{ first_name|default('there', true) }} {% if not unsubscribe_url %}none{% endif %}",
    'Hi {{ first_name }}, <a href="{{ unsubscribe_url }}">leave</a> {{ first_name }}.',
    "{{ first_name }}",
]


def _renders(session: Any) -> list[dict[str, Any]]:
    contexts = []
    for i, name in enumerate(NAMES):
        lead = make_lead(session, email_address=f"p{i}@example.com", first_name=name)
        contexts.append(lead_context(lead, content="step-1"))
    return contexts


def _render(body: str) -> Any:
    renderer = get_renderer()

    def render(ctx: dict[str, Any]) -> RenderedEmail:
        return renderer.render_step(
            subject=f"Subject {body}", preheader=body, body_html=f"<p>{body}</p>",
            body_text=None, context=ctx,
        )  # fmt: skip

    return render


@pytest.mark.parametrize("body", DEPENDENT + PLAIN)
def test_filled_in_equals_rendered_per_person(session, body) -> None:  # type: ignore[no-untyped-def]
    render, forms, used = _render(body), Forms(), 0
    for ctx in _renders(session):
        rendered, form = forms.render("step", render, ctx)
        assert rendered == render(ctx)
        used += form is not None
    # A template that only prints the values is filled in for every plain name.
    assert used == (0 if body in DEPENDENT else 5)


def test_shipped_steps_are_filled_in_and_send_the_same_mime(  # type: ignore[no-untyped-def]
    session, sequences_loaded
) -> None:
    for i, name in enumerate(NAMES):
        lead = make_lead(session, email_address=f"s{i}@example.com", first_name=name)
        enrollments.enroll(session, lead=lead, now=NOW)
    session.commit()
    messages = list(
        session.scalars(select(Message).options(selectinload(Message.lead)).order_by(Message.id))
    )
    facts, forms, shared = gather(session, messages, NOW), Forms(), 0
    with clock.frozen_at(NOW):
        for message in messages:
            alone = checked(compose(message, facts))
            filled = checked(compose(message, facts, forms))
            shared += filled.shared is not None
            assert (filled.subject, filled.html, filled.text, filled.headers) == (
                alone.subject, alone.html, alone.text, alone.headers,
            )  # fmt: skip
            one, two = build_mime(alone, "<id@x>"), build_mime(filled, "<id@x>")
            # Everything but the random multipart boundary.
            assert one.items()[:-1] == two.items()[:-1]
            assert one.get_content_type() == two.get_content_type()
            parts = [(p.get_content_type(), p.as_bytes()) for p in one.iter_parts()]
            assert parts == [(p.get_content_type(), p.as_bytes()) for p in two.iter_parts()]
    assert shared >= 5


def test_people_whose_context_differs_otherwise_get_their_own_form(session) -> None:  # type: ignore[no-untyped-def]
    render, forms = _render("{{ greeting }} {{ first_name }}"), Forms()
    one, two = _renders(session)[:2]
    two = {**two, "greeting": "Hola"}
    one = {**one, "greeting": "Hello"}
    assert forms.render("step", render, one)[0] == render(one)
    assert forms.render("step", render, two)[0] == render(two)


def test_a_form_near_the_output_limit_is_never_filled_past_it(session) -> None:  # type: ignore[no-untyped-def]
    """Stand-ins are short, a name can be long: the filled email must fail as rendering would."""
    from nurture.rendering.budget import MAX_OUTPUT
    from nurture.rendering.limits import TemplateLimitError

    lines = (MAX_OUTPUT - 600) // 100
    body = "{% for i in range(" + str(lines) + ") %}" + "y" * 100 + "{% endfor %}"
    body += "{{ first_name }}" * 10
    renderer = get_renderer()

    def render(ctx: dict[str, Any]) -> RenderedEmail:
        return renderer.render_step(
            subject="A note", preheader="", body_html=body, body_text=None, context=ctx
        )

    [first, *_] = _renders(session)
    short = {**first, "first_name": "Al"}
    assert Forms().render("step", render, short)[0] == render(short)  # within the limit: sent
    long = {**first, "first_name": "Bartholomew-" + "Alexander-" * 8 + "Jones"}
    with pytest.raises(TemplateLimitError):
        render(long)
    with pytest.raises(TemplateLimitError):
        Forms().render("step", render, long)
