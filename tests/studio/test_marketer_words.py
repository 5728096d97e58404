"""The studio speaks the marketer's language: no programmer words on any page."""

from __future__ import annotations

import re

from tests.studio.conftest import Studio
from tests.studio.crawl import seed, visible_text

# Words a clinic's marketer would not use; the technical names stay in tooltips and the docs.
# Case matters: "that kind of numbness" is English, a field called "Kind" is not.
FORBIDDEN = [
    r"\b[Ss]lug\b",
    r"\bKey\b",
    r"(?<![Ss]ecret )(?<![Aa]pi )(?<!public )\bkey\b",
    r"\bKind\b(?! of numbness)",
    r"\b[Ee]nrolled\b",
    r"\bAudience\b",
    r"sequence's audience",
    r"\bNURTURE_[A-Z_]+",
    r"\bIANA\b",
    r"ISO[- ]?8601",
    r"goal '",
    r"condition: [a-z_]+",
    r"\b[a-z]+_hour\b",
    r"derived from the HTML",
    r"\b(?:review_due|not_booked|clicked_previous|booking_reminder)\b",
]


def test_no_studio_page_speaks_programmer(admin_studio: Studio, session, sequences_loaded) -> None:
    urls = seed(admin_studio, session)
    found = []
    for pattern, url in sorted(urls.items()):
        response = admin_studio.get(url)
        assert response.status_code == 200, (url, response.status_code)
        text = visible_text(response.text)
        for word in FORBIDDEN:
            for match in re.finditer(word, text):
                context = text[max(0, match.start() - 40) : match.end() + 40]
                found.append(f"{pattern}: {match.group(0)!r} in '…{context}…'")
    assert not found, "\n".join(found)


def test_finished_imports_speak_the_marketers_language(studio: Studio, sequences_loaded) -> None:
    # The crawl reads a queued import; these are the pages a worker leaves behind.
    from nurture.tasks import run_job
    from tests.studio.test_import_jobs import HEADER, upload

    good = upload(
        studio, HEADER + "ana@example.com,Ana,chronic,Europe/Berlin,2026-06-01T10:00Z,x\n"
    )
    bad = upload(studio, HEADER + "bo@example.com,Bo,chronic,Berlin,yesterday,x\n")
    run_job(good)
    run_job(bad)
    found = []
    for job_id in (good, bad):
        text = visible_text(studio.get(f"/studio/jobs/{job_id}").text)
        found += [m.group(0) for word in FORBIDDEN for m in re.finditer(word, text)]
    assert found == []
    problems = visible_text(studio.get(f"/studio/jobs/{bad}").text)
    assert "such as Europe/Berlin" in problems
    assert "such as 2026-03-01 09:30" in problems


def test_the_crawl_reads_every_page(admin_studio: Studio, session, sequences_loaded) -> None:
    from tests.studio.crawl import page_paths

    assert set(seed(admin_studio, session)) == page_paths()


def test_the_guide_names_only_the_roles_there_are() -> None:
    from pathlib import Path

    from nurture.studio.auth import Role

    guide = (Path(__file__).parents[2] / "docs" / "studio.md").read_text(encoding="utf-8")
    paragraph = next(p for p in guide.split("\n\n") if p.startswith("Roles:"))
    named = set(re.findall(r"\*\*(\w+?)s\*\*", paragraph))
    assert named == {role.value for role in Role}
