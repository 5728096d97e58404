"""Hostile but valid-looking input at signup and import: a clear 4xx or line error, never a 500,
never a row that later breaks someone else's email."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from nurture.cli import main
from nurture.core import clock
from nurture.leads.imports import LeadImportError, import_csv
from nurture.leads.models import ConsentRecord, Lead
from nurture.outbox.models import Message

GOOD = {
    "email": "ann.lee@example.com",
    "first_name": "Ann",
    "numbness_type": "chronic",
    "consent": True,
}
ENCODED_WORD = "=?utf-8?q?Ann=0D=0ABcc=3A_evil=40evil.example?="
BAD_NAMES = [
    "Ann\u2028Lee",  # line separator
    "Ann\u2029Lee",  # paragraph separator
    "Ann\u0085Lee",  # next line (NEL)
    "Ann\x0bLee",  # vertical tab
    "Ann\x00Lee",  # NUL, which PostgreSQL refuses
    "Ann\u202eeeL",  # right-to-left override
    "Ann\u200bLee",  # zero-width space
    ENCODED_WORD,
    "Ann =?UTF-8?B?QmNjOiBldmlsQGV2aWwuZXhhbXBsZQ==?=",
]


def _count(session, model) -> int:  # type: ignore[no-untyped-def]
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)))


def _nothing_written(session) -> None:  # type: ignore[no-untyped-def]
    assert _count(session, Lead) == 0
    assert _count(session, ConsentRecord) == 0
    assert _count(session, Message) == 0


@pytest.mark.parametrize("name", BAD_NAMES)
def test_api_refuses_names_that_could_break_a_header(client, session, name) -> None:
    response = client.post("/api/subscribe", json={**GOOD, "first_name": name})
    assert response.status_code == 422, response.text
    assert "first_name" in response.json()["fields"]
    _nothing_written(session)


@pytest.mark.parametrize("name", BAD_NAMES[:3] + [ENCODED_WORD])
def test_landing_form_refuses_them_beside_the_field(client, session, name) -> None:
    response = client.post(
        "/subscribe", data={**GOOD, "consent": "true", "first_name": name, "numbness_type": "acute"}
    )
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    plain = "Please remove the unusual characters from your first name"
    assert plain in response.text or "encoded word" in response.text
    _nothing_written(session)


@pytest.mark.parametrize(
    ("field", "typed", "shown", "noun"),
    [
        ("first_name", "Ann\x00Lee", "AnnLee", "first name"),
        ("first_name", "Ann\x1bLee", "AnnLee", "first name"),
        ("first_name", "Ann\u202eeeL", "AnneeL", "first name"),
        ("email", "ann\x00@example.com", "ann@example.com", "email address"),
        ("email", "ann\x07@example.com", "ann@example.com", "email address"),
    ],
)
def test_landing_form_asks_in_plain_words_and_never_echoes_control_characters(
    client, session, field, typed, shown, noun
) -> None:
    form = {**GOOD, "consent": "true", field: typed}
    response = client.post("/subscribe", data=form)
    assert response.status_code == 422
    page = response.text
    assert f"Please remove the unusual characters from your {noun}" in page
    assert typed not in page
    assert not any(c in page for c in "\x00\x07\x1b\u202e")
    assert f'value="{shown}"' in page  # the rest of what was typed stays in the field
    _nothing_written(session)


def test_correcting_the_address_never_echoes_control_characters(client, session) -> None:
    response = client.post(
        "/subscribe", data={**GOOD, "consent": "true", "email": "ann@exmaple.com"}
    )
    sealed = parse_qs(urlsplit(str(response.url)).query)["t"][0]
    bad = client.post("/subscribe/correct", data={"t": sealed, "email": "ann\x00@example.com"})
    assert bad.status_code == 422
    assert "Please remove the unusual characters from your email address" in bad.text
    assert "\x00" not in bad.text
    assert 'value="ann@example.com"' in bad.text


def test_names_people_really_have_are_kept_normalised(client, session) -> None:
    names = {
        "zoe@example.com": ("Zoe\u0301", "Zo\u00e9"),  # NFC: one code point for é
        "mehr@example.com": ("\u0645\u06cc\u200c\u0646\u0627", "\u0645\u06cc\u200c\u0646\u0627"),
        "jo@example.com": ("  Jo-Anne O'Neil ", "Jo-Anne O'Neil"),
    }
    for address, (given, _) in names.items():
        response = client.post(
            "/api/subscribe", json={**GOOD, "email": address, "first_name": given}
        )
        assert response.status_code == 202, response.text
    stored = dict(session.execute(select(Lead.email, Lead.first_name)).all())
    assert stored == {address: kept for address, (_, kept) in names.items()}


@pytest.mark.parametrize("consent", [1, 1.0, "true", "yes", [True]])
def test_consent_must_be_the_json_true(client, session, consent) -> None:
    response = client.post("/api/subscribe", json={**GOOD, "consent": consent})
    assert response.status_code == 422
    assert "consent must be true" in response.json()["fields"]["consent"]
    _nothing_written(session)


@pytest.mark.parametrize("field", ["email", "first_name", "timezone", "website"])
def test_nul_in_any_field_is_a_422_naming_it(client, session, field) -> None:
    value = {"email": "a\x00@example.com", "timezone": "Europe/Ber\x00lin"}.get(field, "x\x00y")
    response = client.post("/api/subscribe", json={**GOOD, field: value})
    assert response.status_code == 422
    assert "NUL" in response.json()["fields"][field]
    _nothing_written(session)


def test_a_number_of_thousands_of_digits_is_a_422_naming_its_field(client, session) -> None:
    body = '{"email": "a@example.com", "first_name": "A", "numbness_type": "acute", "consent": '
    response = client.post(
        "/api/subscribe",
        content=body + "9" * 5000 + "}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "too many digits" in response.json()["fields"]["consent"]
    _nothing_written(session)


HEADER = "email,first_name,numbness_type,timezone,consent_at,consent_source\n"


def _import(session, tmp_path: Path, body: str) -> list[str]:  # type: ignore[no-untyped-def]
    path = tmp_path / "leads.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(LeadImportError) as caught:
        import_csv(session, path=path, now=clock.now())
    session.rollback()
    assert _count(session, Lead) == 0
    return caught.value.problems


def test_import_names_the_line_of_each_bad_first_name(session, tmp_path: Path) -> None:
    rows = "ok@example.com,Ok,acute,,,\n" + "".join(
        f'n{i}@example.com,"{name}",acute,,,\n' for i, name in enumerate(BAD_NAMES)
    )
    problems = _import(session, tmp_path, rows)
    assert [p.split(":")[0] for p in problems] == [f"line {i + 3}" for i in range(len(BAD_NAMES))]
    assert all("first_name" in p or "NUL" in p for p in problems)


def test_import_refuses_nul_in_any_column(session, tmp_path: Path) -> None:
    problems = _import(session, tmp_path, "a@example.com,A,acute,,,old\x00tool\n")
    assert problems == ["line 2: consent_source: must not contain NUL (\\x00) characters"]


def test_import_of_a_megabyte_field_is_a_line_error(session, tmp_path: Path) -> None:
    body = "a@example.com,A,acute,,,\n" + "b@example.com," + "x" * (1 << 20) + ",acute,,,\n"
    problems = _import(session, tmp_path, body)
    assert problems == ["line 3: a field is longer than 131072 characters"]
    result = CliRunner().invoke(main, ["leads", "import", str(tmp_path / "leads.csv")])
    assert result.exit_code == 1
    assert "line 3: a field is longer than" in result.output


def test_lines_after_a_megabyte_field_are_still_checked(session, tmp_path: Path) -> None:
    big = "x" * (1 << 20)
    body = f"b@example.com,{big},acute,,,\nc@example.com,{big},acute,,,\nbroken,D,acute,,,\n"
    problems = _import(session, tmp_path, body)
    assert problems[:2] == [
        "line 2: a field is longer than 131072 characters",
        "line 3: a field is longer than 131072 characters",
    ]
    assert problems[2].startswith("line 4: email: not a valid email address")
    assert len(problems) == 3


def test_import_of_a_megabyte_header_is_a_line_error(session, tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("email," + "x" * (1 << 20) + "\n", encoding="utf-8")
    with pytest.raises(LeadImportError) as caught:
        import_csv(session, path=path, now=clock.now())
    assert caught.value.problems == ["line 1: a field is longer than 131072 characters"]


def test_arrays_nested_thousands_deep_are_a_400(client, session) -> None:
    body = '{"email": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(
        "/api/subscribe", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["message"]
    _nothing_written(session)
