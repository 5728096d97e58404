"""A staff template cannot make the process rendering it compute, hold or write without bound."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jinja2 import TemplateSyntaxError

from nurture.messages.contexts import clinic_context
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.rendering.limits import MAX_STEPS, TemplateLimitError, limits, template_line

NUMBER = "computes a number too large"
SIZE = "builds a text or list longer than"
OUTPUT = "writes more than 256 KiB"
STEPS = f"more than {MAX_STEPS:,} times"


def _render(html: str, first_name: str = "Jo") -> RenderedEmail:
    context: dict[str, Any] = {
        **clinic_context(),
        "first_name": first_name,
        "marketing": True,
        "booking_url": "https://book.example/x",
        "unsubscribe_url": "https://nurture.test/u/x",
        "preferences_url": "https://nurture.test/p/x",
    }
    return get_renderer().render_step(
        subject="Hi", preheader="", body_html=html, body_text=None, context=context
    )


HOSTILE = [
    ("{{ 7**(10**7) }}", NUMBER),
    ("{{ 'x' * 10**8 }}", SIZE),
    ("{{ 10**8 * ['x'] }}", SIZE),
    ("{% set n = 2**4000 %}{{ n * n }}", NUMBER),
    ("{{ ('9' * 4000)|int }}", NUMBER),
    (
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        STEPS,
    ),
    ("{% for a in range(100000) %}{{ a }}{% endfor %}", STEPS),
    ("{% for a in range(300) %}{{ 'x' * 1000 }}{% endfor %}", OUTPUT),
    ("{% for a in range(10000) %}" + "<p>words</p>" * 10 + "{% endfor %}", OUTPUT),
    ("{% for a in range(100) %}{% set b %}{{ 'y' * 200000 }}{% endset %}{% endfor %}", OUTPUT),
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        STEPS,
    ),
    ("{{ 'x'|center(10**9) }}", SIZE),
    ("{{ 'x'.center(10**9) }}", SIZE),
    ("{{ 'x'.ljust(10**9) }}", SIZE),
    ("{{ ('x\n' * 100000)|indent(100000) }}", SIZE),
    ("{{ ('x ' * 100000)|wordwrap(1, wrapstring='y' * 100000) }}", SIZE),
    ("{{ '%0100000000d'|format(1) }}", SIZE),
    ("{{ '%0100000000d' % 1 }}", SIZE),
    ("{{ '{:>100000000}'.format(1) }}", SIZE),
    ("{{ ('x' * 200000)|replace('x', 'y' * 200000) }}", SIZE),
    ("{{ ('x' * 200000).replace('x', 'y' * 200000) }}", SIZE),
    ("{{ ('y' * 200000).join(['a'] * 1000) }}", SIZE),
    ("{{ (['a'] * 1000)|join('y' * 200000) }}", SIZE),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}",
        SIZE,
    ),
    (
        "{% set ns = namespace(l=['x' * 1000]) %}{% for i in range(40) %}"
        "{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l }}",
        SIZE,
    ),
    ("{{ [1]|batch(10**9, 'x')|list }}", SIZE),
    ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes(), which is not allowed"),
    ("{{ true.to_bytes(10**9, 'big') }}", "to_bytes(), which is not allowed"),
    ("{{ 5|round(-10**7) }}", "rounds to more than"),
    ("{{ 5.5|round(10**7, 'floor') }}", "rounds to more than"),
]


@pytest.mark.parametrize(("source", "message"), HOSTILE)
def test_a_hostile_template_is_refused_with_a_clear_message(source: str, message: str) -> None:
    with pytest.raises(TemplateLimitError, match=re.escape(message)):
        _render(source)


def test_the_error_names_the_template_line() -> None:
    with pytest.raises(TemplateLimitError) as raised:
        _render("<p>Hello</p>\n<p>{{ first_name }}</p>\n<p>{{ 7**(10**7) }}</p>")
    assert template_line(raised.value) == 3


def test_a_branch_on_the_first_name_is_bounded_for_the_lead_that_takes_it() -> None:
    source = "{% if first_name == 'Zed' %}{% for i in range(8) %}{{ 'x' * 250000 }}{% endfor %}"
    source += "{% endif %}<p>Hi {{ first_name }}</p>"
    assert "Hi Jo" in _render(source).html
    with pytest.raises(TemplateLimitError, match=OUTPUT):
        _render(source, first_name="Zed")


def test_a_render_past_its_cpu_time_is_stopped() -> None:
    with limits(seconds=-1), pytest.raises(TemplateLimitError, match="CPU time"):
        _render("{% for i in range(3) %}{{ i }}{% endfor %}")


def test_a_number_too_long_to_read_is_a_syntax_error_with_its_line() -> None:
    with pytest.raises(TemplateSyntaxError, match="number too long to read") as raised:
        get_renderer().text_env.parse("line one\n{{ 1" + "0" * 5000 + " }}")
    assert raised.value.lineno == 2


def test_an_ordinary_template_still_renders() -> None:
    email = _render(
        "<p>Hi {{ first_name }}, {{ 'x' * 3 }} {{ 2 ** 10 }} {{ 7 * 6 }} {{ 10 // 3 }} "
        "{{ '%05d'|format(42) }} {{ '%s!' % first_name }} {{ '{}?'.format(first_name) }} "
        "{{ 'a' ~ 'b' }} {{ [1, 2]|join(',') }} {{ 'ab'|center(6) }}|"
        "{% for i in range(3) %}{{ i }}{% endfor %} {{ {'k': 'v'}['k'] }} "
        "{% set n = namespace(t=0) %}{% for i in [1, 2, 3] %}{% set n.t = n.t + i %}{% endfor %}"
        "{{ n.t }} {{ first_name|upper|replace('J', 'j') }}</p>"
    )
    assert ">Hi Jo, xxx 1024 42 3 00042 Jo! Jo? ab 1,2   ab  |012 v 6 jO</p>" in email.html


def test_a_filter_added_later_is_checked_too() -> None:
    env = get_renderer().text_env
    env.filters["_test_repeat"] = lambda value, times=1: value * times
    loop = "{% for i in range(30000) %}{{ 'a'|_test_repeat }}{% endfor %}"
    try:
        with limits(), pytest.raises(TemplateLimitError, match="loops, calls or computes"):
            env.from_string(loop).render()
        with pytest.raises(TemplateLimitError, match=re.escape(SIZE)):
            env.from_string("{{ 'abc'|_test_repeat(100000) }}").render()
    finally:
        del env.filters["_test_repeat"]
