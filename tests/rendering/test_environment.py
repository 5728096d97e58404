"""Staff-editable templates run sandboxed, escaped and strict."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from nurture.messages.contexts import clinic_context
from nurture.rendering.environment import get_renderer


def _render(html: str, subject: str = "Hi {{ first_name }}", **extra: object):  # type: ignore[no-untyped-def]
    context = {
        **clinic_context(),
        "first_name": "<b>Jo</b>",
        "marketing": True,
        "unsubscribe_url": "https://nurture.test/u/x",
        "preferences_url": "https://nurture.test/p/x",
        **extra,
    }
    return get_renderer().render_step(
        subject=subject, preheader="", body_html=html, body_text=None, context=context
    )


def test_html_is_autoescaped_but_subject_is_plain_text() -> None:
    rendered = _render("<p>Hello {{ first_name }}</p>")
    assert "&lt;b&gt;Jo&lt;/b&gt;" in rendered.html
    assert "<b>Jo</b>" not in rendered.html
    assert rendered.subject == "Hi <b>Jo</b>"


def test_subject_cannot_carry_line_breaks() -> None:
    rendered = _render("<p>x</p>", subject="Hi {{ first_name }}\r\nBcc: someone@example.com")
    assert "\n" not in rendered.subject
    assert "\r" not in rendered.subject


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ first_name.__class__.__init__.__globals__ }}",
        "{{ clinic.__class__.__base__.__subclasses__() }}",
    ],
)
def test_sandbox_refuses_python_internals(attack: str) -> None:
    with pytest.raises(SecurityError):
        _render(f"<p>{attack}</p>")


def test_sandbox_refuses_mutation() -> None:
    with pytest.raises(SecurityError):
        _render("{{ clinic.clear() }}")


def test_unknown_variables_are_errors_not_blanks() -> None:
    with pytest.raises(UndefinedError):
        _render("<p>{{ last_name }}</p>")


def test_text_part_is_derived_with_links_kept() -> None:
    rendered = _render('<p>Book <a href="https://book.example/x">here</a>.</p>')
    assert "https://book.example/x" in rendered.text
    assert "<p>" not in rendered.text
    assert "<a" not in rendered.text
    assert clinic_context()["clinic"]["address"] in rendered.text


def test_css_is_inlined() -> None:
    rendered = _render('<p><a class="button" href="https://x.example">Go</a></p>')
    assert 'style="' in rendered.html.split('class="button"')[1].split(">")[0]
