"""Steps written in Markdown render in the layout through the same sandbox and limits as HTML."""

from __future__ import annotations

import random
import re

import pytest
from jinja2.exceptions import SecurityError

from nurture.messages.contexts import clinic_context
from nurture.rendering import markdown
from nurture.rendering.environment import RenderedEmail, get_renderer
from nurture.rendering.limits import MAX_SIZE, TemplateLimitError, limits
from nurture.rendering.markdown import (
    MarkdownTooLong,
    jinja_tags,
    markdown_template,
    placeholder_prefix,
)

STEP = """# Hello {{ first_name }}

A **calmer** week, and *gentle* stretches:

- stand up every hour
- walk after meals

Read [our guide](https://clinic.example/guide?a=1&b=2).

[[button: Book an assessment | {{ booking_url }}]]
"""


def _render(markdown: str) -> RenderedEmail:
    context = {
        **clinic_context(),
        "first_name": "<b>Jo</b>",
        "marketing": True,
        "booking_url": "https://clinic.example/book?utm_source=nurture&x=1",
        "unsubscribe_url": "https://nurture.test/u/x",
        "preferences_url": "https://nurture.test/p/x",
    }
    return get_renderer().render_step(
        subject="Hi",
        preheader="",
        body_html=markdown_template(markdown),
        body_text=None,
        context=context,
    )


def _unstyled(html: str) -> str:
    """Drop the inlined CSS, which every element of the layout's emails gets."""
    return re.sub(r' style="[^"]*"', "", html)


def test_markdown_renders_headings_emphasis_lists_links_and_a_button_in_the_layout() -> None:
    email = _render(STEP)
    html = _unstyled(email.html)
    assert "<h1>Hello &lt;b&gt;Jo&lt;/b&gt;</h1>" in html
    assert "<strong>calmer</strong>" in html
    assert "<em>gentle</em>" in html
    assert re.search(r"<ul>\s*<li>stand up every hour</li>\s*<li>walk after meals</li>", html)
    assert '<a href="https://clinic.example/guide?a=1&amp;b=2"' in html
    assert "/unsubscribe/" in html or "https://nurture.test/u/x" in html  # the real footer
    # The button is the layout's bulletproof button: a link in a coloured table cell.
    button = re.search(r'<td class="button-cell"[^>]*>\s*<a ([^>]*)>Book an assessment</a>', html)
    assert button, html
    assert 'class="button"' in button.group(1)
    assert 'href="https://clinic.example/book?utm_source=nurture&amp;x=1"' in button.group(1)
    # The text part is derived from the HTML as for any step.
    assert "Book an assessment" in email.text
    assert "stand up every hour" in email.text


def test_a_link_marked_as_a_button_is_a_button_too() -> None:
    html = _unstyled(_render("[Book now]({{ booking_url }}){.button}\n").html)
    assert re.search(
        r'<td class="button-cell"[^>]*>\s*<a [^>]*class="button"[^>]*>Book now</a>', html
    )
    assert "{.button}" not in html


def test_raw_html_and_script_in_markdown_are_shown_as_text() -> None:
    html = _render(
        '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[x](javascript:alert(3))\n'
    ).html
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert 'href="javascript:' not in html


def test_a_variable_inside_markdown_is_autoescaped() -> None:
    html = _unstyled(
        _render("Hello **{{ first_name }}**, see [{{ first_name }}]({{ booking_url }})\n").html
    )
    assert "<strong>&lt;b&gt;Jo&lt;/b&gt;</strong>" in html
    assert "<b>Jo</b>" not in html


def test_jinja_tags_survive_markdown_untouched() -> None:
    template = markdown_template(
        '{% if first_name != "" %}\nHi *{{ first_name|upper }}*\n{% endif %}\n'
    )
    assert '{% if first_name != "" %}' in template  # not turned into &quot;
    assert "<em>{{ first_name|upper }}</em>" in template


@pytest.mark.parametrize(
    ("markdown", "error"),
    [
        ("{% for i in range(100000) %}x{% endfor %}", TemplateLimitError),
        ("{{ 'x' * 10000000 }}", TemplateLimitError),
        ("# {{ ''.__class__.__mro__[1].__subclasses__() }}", SecurityError),
    ],
)
def test_sandbox_limits_apply_to_markdown_steps(markdown: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        _render(markdown)


def test_a_placeholder_spelled_with_entities_names_no_tag() -> None:
    assert "nurtureJ99X" in markdown_template("nurture&#74;99X and {{ first_name }}")


def test_markdown_longer_than_any_email_is_refused_before_parsing() -> None:
    with pytest.raises(MarkdownTooLong):
        markdown_template("a" * (MAX_SIZE + 1))


def _style(html: str, tag: str, text: str) -> str:
    found = re.search(rf'<{tag}\b[^>]*style="([^"]*)"[^>]*>\s*{re.escape(text)}', html)
    assert found is not None, (tag, text)
    return found.group(1)


def test_markdown_headings_carry_the_email_heading_style_inline() -> None:
    html = _render("# Top\n\nIntro.\n\n## Middle\n\nText.\n\n### Small\n\nMore.\n").html
    for tag, text in (("h1", "Top"), ("h2", "Middle"), ("h3", "Small")):
        style = _style(html, tag, text)
        assert "font-family: Arial" in style
        assert "font-weight: bold" in style
        assert "color: #12355b" in style


@pytest.mark.parametrize(
    ("locale", "typed", "href"),
    [
        ("en_US", "(312) 555-0123", "tel:+13125550123"),
        ("en_US", "+44 20 7946 0958", "tel:+442079460958"),
        ("en_GB", "020 7946 0958", "tel:+442079460958"),
    ],
)
def test_a_phone_number_typed_in_markdown_becomes_a_tel_link(
    settings, locale: str, typed: str, href: str
) -> None:
    settings(clinic_locale=locale)
    email = _render(f"Questions? Call us on {typed} any weekday.\n")
    assert f'<a href="{href}"' in email.html
    assert re.search(rf'<a href="{re.escape(href)}"[^>]*>{re.escape(typed)}</a>', email.html)
    assert f"Call us on {typed} any weekday." in email.text  # the number as written


def test_phone_numbers_are_linked_in_text_only() -> None:
    html = markdown_template(
        "[Call (312) 555-0123](https://clinic.example/call) or `(312) 555-0124`, "
        "order 20261220, {{ first_name }} 2026-12-20.\n"
    )
    assert "tel:" not in html
    assert "{{ first_name }}" in html
    many = markdown_template(" ".join(["123456"] * 5000) + " (312) 555-0123\n")
    assert many.count("tel:") <= 1  # a page of digits is searched a bounded number of times


# --- bounded work: no quadratic pre-pass, everything inside the render limits ---------------

# The lazy pattern the pre-pass used to search with, quadratic on "{{" * n: kept here only to
# check that the linear scanner reads tags the same way.
_LAZY = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def test_jinja_tags_are_found_where_the_lazy_pattern_found_them() -> None:
    rng = random.Random(19)
    samples = ["{{ a }} {% if b %}x{% endif %} {# c #}", "{{ {% }} %}", "{#}}#}", "{{{{}}}}"]
    samples += [
        "".join(rng.choice("{}%# a\n") for _ in range(rng.randrange(40))) for _ in range(3000)
    ]
    for sample in samples:
        assert jinja_tags(sample) == [m.span() for m in _LAZY.finditer(sample)], sample


@pytest.mark.parametrize(
    "source",
    [
        "nurture" + "J" * 128_000,
        " ".join(f"nurture{a}{b}AA" for a in "ABCDEFGHIJ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        "nurtureAAAA nurtureAAAB {{ first_name }}",
    ],
)
def test_the_placeholder_is_short_and_never_in_the_source(source: str) -> None:
    # The old prefix grew one letter per loop turn until it was absent: 128,009 letters and
    # 10 s for the first source, each placeholder as long again.
    prefix = placeholder_prefix(source)
    assert len(prefix) == len("nurture") + 4
    assert prefix not in source


BOMBS = {
    "braces": "{{" * 32_000,
    "braces 64 KB": "{{" * 32_768,
    "prefix": "nurture" + "J" * 128_000,
    "brackets": "[" * 64_000,
    "stars": "*" * 64_000,
    "nested emphasis": "*a **b _c " * 6_000 + "d_ e** f*" * 6_000,
    "unclosed blocks": "{% if x %}" * 20_000,
    "links": "[a](" * 16_000,
}


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_adversarial_markdown_gets_a_result_or_a_clear_error(source: str) -> None:
    try:
        html = markdown_template(source)
    except MarkdownTooLong as exc:
        message = str(exc)
        html = ""
    else:
        message = "takes too long to read"
    assert "takes too long to read" in message
    assert placeholder_prefix(source) not in html  # every placeholder was put back


def test_markdown_is_read_inside_the_render_budget() -> None:
    # With the budget already spent, reading Markdown stops at its first look at the clock
    # instead of running on outside the limits.
    markdown.clear_cache()
    with limits(seconds=0), pytest.raises(MarkdownTooLong, match="takes too long"):
        markdown_template("Some *gentle* [stretches](https://clinic.example/) today.\n" * 300)
