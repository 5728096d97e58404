"""The shared layout: signature, plain text parts, preheader padding, phone links, buttons."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest

from nurture.messages.preview import Sample, all_samples, problems
from nurture.rendering.environment import html_to_text


@pytest.fixture
def samples(settings) -> list[Sample]:  # type: ignore[no-untyped-def]
    settings(base_url="https://nurture.clinic.example.org")
    return list(all_samples())


def test_clinician_signature_is_shown_in_the_footer_when_set(settings) -> None:  # type: ignore[no-untyped-def]
    settings(clinician_name="Dr. Robin Example", clinician_credentials="DC, MSc")
    marketing = [s for s in all_samples() if s.marketing]
    for sample in marketing:
        footer = sample.email.html.split('class="footer"', 1)[1]
        assert "Dr. Robin Example, DC, MSc" in footer, sample.name
        assert "Dr. Robin Example, DC, MSc" in sample.email.text.split("\n--\n", 1)[1]
        assert "Robin" not in sample.email.subject + sample.email.preheader


def test_no_signature_line_without_a_clinician(samples: list[Sample]) -> None:
    for sample in samples:
        assert "and the team at" not in sample.email.html
        assert "and the team at" not in sample.email.text


def test_text_parts_are_plain_text_not_markdown(samples: list[Sample]) -> None:
    for sample in samples:
        assert "](" not in sample.email.text, sample.name
        assert not re.search(r"^#+ |\*\*|\[\d+\]", sample.email.text, re.M), sample.name
    derived = next(s for s in samples if s.name == "acute-basics/book-first").email.text
    assert re.search(r"^Book an assessment: https://booking\.example\.com/\S+$", derived, re.M)


def test_derived_text_keeps_lists_and_inline_links_readable() -> None:
    text = html_to_text(
        "<h1>Hello</h1><p>See your <a href='https://x.example/p'>preferences page</a>.</p>"
        "<ul><li>one</li><li>two</li></ul><ol><li>first</li><li>second</li></ol>"
        "<p>Call <a href='tel:+15550100000'>+1 555 010 0000</a> or "
        "<a href='https://x.example/raw'>https://x.example/raw</a></p>"
        "<p><img src='https://x.example/i.png' alt='A calm room'></p>"
    )
    assert text == (
        "Hello\n\nSee your preferences page (https://x.example/p).\n\n- one\n- two\n\n"
        "1. first\n2. second\n\nCall +1 555 010 0000 or https://x.example/raw\n\nA calm room\n"
    )


def test_preheader_is_padded_so_body_text_stays_out_of_the_preview(
    samples: list[Sample],
) -> None:
    for sample in samples:
        hidden = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', sample.email.html, re.S)
        assert hidden, sample.name
        assert "display:none" in hidden.group(0).replace(" ", "")
        shown = html.unescape(hidden.group(1))
        assert shown.startswith(sample.email.preheader), sample.name
        padding = shown[len(sample.email.preheader) :]
        # Invisible characters only, enough to fill any inbox's preview line.
        assert set(padding) <= {"\u034f", "\u200c", "\u00a0"}, sample.name
        assert padding.count("\u200c") >= 90, sample.name


def test_phone_numbers_are_tel_links(samples: list[Sample]) -> None:
    phone = "+1 555 010 0000"
    for sample in samples:
        shown = sample.email.html.count(phone)
        linked = len(
            re.findall(
                rf'<a [^>]*href="tel:\+15550100000"[^>]*>{re.escape(phone)}</a>', sample.email.html
            )
        )
        assert shown >= 1
        assert linked == shown, sample.name


def test_an_image_without_alt_text_is_a_problem(samples: list[Sample]) -> None:
    good = next(s for s in samples if s.marketing)
    for img, expected in (
        ('<img src="https://x.example/a.png">', True),
        ('<img src="https://x.example/a.png" alt="">', True),
        ('<img src="https://x.example/a.png" alt="A calm treatment room">', False),
    ):
        email = dataclasses.replace(
            good.email, html=good.email.html.replace("</h1>", f"</h1>{img}")
        )
        found = problems(dataclasses.replace(good, email=email), require_https=True)
        assert any("alt text" in p for p in found) is expected, img
    for sample in samples:
        assert not [p for p in problems(sample, require_https=True) if "alt text" in p]


def test_buttons_are_tables_that_outlook_draws(samples: list[Sample]) -> None:
    seen = 0
    for sample in samples:
        page = sample.email.html
        for anchor in re.finditer(r'<a [^>]*class="button"', page):
            seen += 1
            before = page[: anchor.start()]
            td = before[before.rfind("<td") :]
            assert td.startswith("<td"), sample.name
            assert "</td>" not in td, sample.name
            assert 'bgcolor="#0b5cad"' in td
            assert "padding" in td
            table = before[before.rfind("<table") :]
            assert 'role="presentation"' in table
        assert "<p><table" not in page
        assert "<p>\n<table" not in page
    assert seen > 20
