"""Links and subjects a step may not save: dead links, links made by Jinja, unsafe subjects."""

from __future__ import annotations

import pytest

from nurture.sequences.checks import StepSource, check_step


def _errors(source: StepSource) -> list[str]:
    return [str(p) for p in check_step(source).errors]


@pytest.mark.parametrize(
    "markdown",
    [
        "[Book](https://)",
        "[Book]()",
        "[Book](https://{{ '' }})",
        "[Book]({{ 'javascript:alert(1)' }})",
        "[Book]({{ 'http://clinic.example/book' }})",
        "[Book]({{ '' }})",
        "[Call](tel:)",
        "[Book](#)",
        "[Book](https://?ref=email)",
        "[Book](https:///book)",
        "[Book](https://localhost/book)",
    ],
)
def test_a_dead_or_unsafe_link_in_markdown_is_refused(markdown: str) -> None:
    found = _errors(StepSource("Hello", "", "", None, markdown))
    assert any("link" in p for p in found), found


@pytest.mark.parametrize(
    "html",
    [
        '<p><a href="https://">Book</a></p>',
        "<p><a href=\"{{ 'http://clinic.example/' }}\">Book</a></p>",
        "<p><a href=\"{{ 'javascript:alert(1)' }}\">Book</a></p>",
    ],
)
def test_a_dead_or_unsafe_link_in_html_is_refused(html: str) -> None:
    found = _errors(StepSource("Hello", "", html, None))
    assert any("link" in p for p in found), found


@pytest.mark.parametrize(
    "markdown",
    [
        "[Book]({{ booking_url }})",
        "[Book](https://clinic.example/book)",
        "[Change what you get]({{ preferences_url }})",
        "[Call](tel:+4930123456) or [write](mailto:desk@clinic.example)",
        "[Read on](#more)",
    ],
)
def test_working_links_pass(markdown: str) -> None:
    assert _errors(StepSource("Hello", "", "", None, markdown)) == []


@pytest.mark.parametrize(
    "subject", ["=?utf-8?q?Hello=0D=0ABcc:_x@evil.example?=", "{{ '=?utf-8?q?A=0AB?=' }}"]
)
def test_a_subject_delivery_would_refuse_is_refused_at_save(subject: str) -> None:
    found = _errors(StepSource(subject, "", "", None, "Hello"))
    assert any(p.startswith("Subject:") and "encoded word" in p for p in found), found


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://clinic.example/book", True),
        ("HTTPS://clinic.example", True),
        ("https://", False),
        ("https://?ref=email", False),
        ("https:///book", False),
        ("https://localhost", False),
        ("https://clinic example", False),
        ("http://clinic.example", False),
        ("clinic.example", False),
    ],
)
def test_a_web_address_needs_https_and_a_host(url: str, ok: bool) -> None:
    from nurture.core.web_address import has_web_host

    assert has_web_host(url) is ok


def test_each_dead_link_is_reported_once() -> None:
    # A link written out is checked as written; only links Jinja makes are checked again rendered.
    found = _errors(StepSource("Hello", "", "", None, "[a](https://) [b]({{ 'https://?x' }})"))
    assert found == [
        "Markdown body: a link has no web address after https:// (https://): fill in where it goes",
        "Markdown body: a link has no web address after https:// (https://?x): fill in where it"
        " goes (as the email would send it)",
    ]
