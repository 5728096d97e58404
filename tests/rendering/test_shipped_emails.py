"""Every shipped email, rendered for a lead of each type, is fit to send."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from nurture.cli import main
from nurture.core.config import get_settings
from nurture.messages.preview import CONDITION_WORDS, Sample, all_samples, problems
from nurture.rendering.markdown import markdown_template
from nurture.sequences.files import read_sequence_file, sequence_files


def _body(step: Any) -> str:
    """The HTML a shipped step's body makes, whether it is written in HTML or Markdown."""
    return step.html if step.html is not None else markdown_template(step.markdown)


@pytest.fixture
def samples(settings) -> list[Sample]:  # type: ignore[no-untyped-def]
    settings(base_url="https://nurture.clinic.example.org", env="production", secret_key="p" * 40)
    return list(all_samples())


def test_every_email_passes_the_checks(samples: list[Sample]) -> None:
    found = {s.name: problems(s, require_https=True) for s in samples}
    assert {name: p for name, p in found.items() if p} == {}
    marketing = [s for s in samples if s.marketing]
    transactional = [s for s in samples if not s.marketing]
    assert len(marketing) >= 20
    assert len(transactional) == 4 * 8  # eight transactional emails for each type


def test_checks_catch_what_they_should(samples: list[Sample]) -> None:
    import dataclasses

    good = next(s for s in samples if s.marketing)
    bad_email = dataclasses.replace(
        good.email,
        subject="Your sciatica update",
        html=good.email.html.replace("/unsubscribe/", "/x/").replace(
            'href="https://', 'href="http://'
        ),
    )
    found = problems(dataclasses.replace(good, email=bad_email), require_https=True)
    assert any("names a condition" in p for p in found)
    assert any("unsubscribe" in p for p in found)
    assert any("not absolute https" in p for p in found)


def test_sequences_have_the_planned_shape() -> None:
    specs = {
        read_sequence_file(p).audience: read_sequence_file(p)
        for p in sequence_files(get_settings().templates_dir / "sequences")
    }
    lengths = {k: len(specs[k].steps) for k in ("acute", "chronic", "intermittent", "unsure")}
    assert 3 <= lengths["acute"] <= 4
    assert 6 <= lengths["chronic"] <= 7
    assert 4 <= lengths["intermittent"] <= 5
    assert 3 <= lengths["unsure"] <= 4
    for audience in ("acute", "chronic", "intermittent", "unsure"):
        steps = specs[audience].steps
        kinds = [s.kind for s in steps]
        assert kinds[-1] == "booking_reminder"  # the series ends with a call to book
        assert "booking_reminder" in kinds[1:-1]  # and one is woven in earlier
        assert all(not CONDITION_WORDS.search(s.subject) for s in steps)
    assert "preferences_url" in _body(specs["unsure"].steps[0])


def test_shipped_sequences_are_written_in_markdown() -> None:
    # A marketer opening a shipped step finds the editor they write in, not HTML.
    in_html = []
    for path in sequence_files(get_settings().templates_dir / "sequences"):
        for step in read_sequence_file(path).steps:
            texts = [(step.key, step), *((step.key, v) for v in step.variants or [])]
            for key, text in list(texts):
                texts += [(f"{key} ({lang})", t) for lang, t in (text.translations or {}).items()]
            in_html += [f"{path.name}: {key}" for key, text in texts if text.html is not None]
            assert step.markdown is not None
    assert in_html == []


def test_booking_links_carry_campaign_tracking_but_no_health_detail(samples) -> None:  # type: ignore[no-untyped-def]
    import re

    for sample in samples:
        if not sample.marketing:
            continue
        for url in re.findall(r'href="([^"]*booking[^"]*)"', sample.email.html):
            assert "utm_source=nurture" in url
            # The clinic's own booking address is a setting; what Nurture adds must be neutral.
            added = url.removeprefix(get_settings().booking_url)
            assert not CONDITION_WORDS.search(added)


def test_preview_writes_a_gallery(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["preview", "--out", str(tmp_path), "--no-screenshots"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "chronic-basics__sciatic-nerve.html").is_file()
    text = (tmp_path / "chronic-basics__sciatic-nerve.txt").read_text()
    assert text.startswith("Subject: A quick anatomy lesson")
    # Every offered language, each email named by its language (the default's unnamed).
    spanish = (tmp_path / "es__chronic-basics__sciatic-nerve.txt").read_text()
    assert spanish.startswith("Subject: Una breve lección de anatomía")
    assert (tmp_path / "es__transactional__appointment_reminder__acute.html").is_file()
    assert 'lang="es"' in (tmp_path / "es__transactional__confirm__acute.html").read_text()


@pytest.mark.slow
def test_preview_screenshots_in_chromium(tmp_path: Path) -> None:
    from tests.browser import chromium_path

    chromium_path()  # skip (or fail when required) without Chromium
    # Every email's width is measured by tests/rendering/test_in_chromium.py; here the command
    # itself, on a few emails of each kind, so the suite stays quick.
    only = ["unsure-basics/", "transactional/confirm/", "appointment_reminder/acute"]
    result = CliRunner().invoke(
        main,
        ["preview", "--out", str(tmp_path), "--language=en", *(f"--only={o}" for o in only)],
    )
    assert result.exit_code == 0, result.output
    pages = [p for p in tmp_path.glob("*.html") if p.name != "index.html"]
    assert len(pages) == 4 + 4 + 1  # the unsure steps, a confirmation per type, one reminder
    assert len(list(tmp_path.glob("*.png"))) == 3 * len(pages)  # phone, dark phone, desktop
    light = (tmp_path / "unsure-basics__welcome.phone.png").read_bytes()
    dark = (tmp_path / "unsure-basics__welcome.dark.png").read_bytes()
    assert len(light) > 10_000
    assert dark != light  # the reader's dark mode reached the email's dark-mode rules


@pytest.mark.slow
def test_preview_fails_when_a_phone_screenshot_is_too_wide(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.browser import chromium_path

    chromium_path()
    templates = tmp_path / "templates"
    shutil.copytree(get_settings().templates_dir, templates)
    for sequence in (templates / "sequences").glob("*.yml"):
        if sequence.name != "no-show.yml":
            sequence.unlink()
    goodbye = templates / "transactional" / "goodbye.html"
    goodbye.write_text(
        goodbye.read_text().replace(
            "<h1>",
            '<table width="720"><tr><td>A table far wider than a phone</td></tr></table><h1>',
        )
    )
    settings(templates_dir=str(templates))
    out = tmp_path / "gallery"
    result = CliRunner().invoke(
        main, ["preview", "--out", str(out), "--only=goodbye", "--only=no-show"]
    )
    assert result.exit_code != 0
    report = result.output.split("wider than the screen:", 1)[1]
    named = {line.split(":")[0].strip() for line in report.strip().splitlines()}
    kinds = ("acute", "chronic", "intermittent", "unsure")
    assert named == {f"transactional/goodbye/{kind}" for kind in kinds}
    assert "wider than the phone screen (390 px)" in report


def test_the_first_line_of_every_text_part_is_the_neutral_preheader(
    samples: list[Sample],
) -> None:
    # Mail apps build a text-only email's preview from its first line.
    first_lines = {s.name: s.email.text.split("\n", 1)[0] for s in samples}
    assert {n: line for n, line in first_lines.items() if not line.strip()} == {}
    assert {n: line for n, line in first_lines.items() if CONDITION_WORDS.search(line)} == {}
    assert all(first_lines[s.name] == s.email.preheader for s in samples if s.email.preheader)
