"""The OpenAPI document is valid and complete, and the API keeps every promise it makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from nurture.core import clock
from nurture.outbox.models import Heartbeat
from nurture.staff import tokens
from nurture.web.app import create_app

# Every operation that needs an API token, and the statuses each one must document.
API_TOKEN_OPERATIONS = {
    ("post", "/api/appointments"),
    ("get", "/api/appointments/{appointment_id}"),
    ("patch", "/api/appointments/{appointment_id}"),
    ("delete", "/api/appointments/{appointment_id}"),
}
MUST_DOCUMENT = {
    ("post", "/api/subscribe"): {"202", "400", "413", "415", "422", "429"},
    ("post", "/api/appointments"): {"200", "201", "400", "401", "413", "422"},
    ("get", "/api/appointments/{appointment_id}"): {"200", "401", "404", "422"},
    ("patch", "/api/appointments/{appointment_id}"): {"200", "400", "401", "404", "413", "422"},
    ("delete", "/api/appointments/{appointment_id}"): {"200", "401", "404", "422"},
    ("post", "/webhooks/sendgrid"): {"200", "400", "401", "413", "415", "503"},
    ("post", "/webhooks/calcom"): {"200", "400", "401", "413", "422", "503"},
    ("post", "/webhooks/twilio"): {"200", "403", "413"},
    ("post", "/webhooks/twilio/status"): {"200", "403", "413", "422"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200", "503"},
}


@pytest.fixture
def app() -> FastAPI:
    """The real app."""
    return create_app()


@pytest.fixture
def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document as a client downloads it."""
    return json.loads(json.dumps(app.openapi()))


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_document_is_valid_openapi_and_every_ref_resolves(document: dict[str, Any]) -> None:
    validate(document)
    for ref in set(_refs(document)):
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            assert part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_status_a_route_answers_is_documented_with_a_body(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for (method, path), statuses in MUST_DOCUMENT.items():
        responses = paths[path][method]["responses"]
        assert statuses <= set(responses), (method, path, statuses - set(responses))
        for status, response in responses.items():
            assert response.get("description"), (method, path, status)
            if status != "204":
                assert "application/json" in response.get("content", {}), (method, path, status)


def test_token_routes_declare_the_bearer_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            needs = (method, path) in API_TOKEN_OPERATIONS
            assert (operation.get("security") == [{name: []}]) == needs, (method, path)


def test_every_operation_has_a_tag_and_a_summary(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("tags"), (method, path)
            assert operation.get("summary") or operation.get("description"), (method, path)


def _fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    """Run a few generated requests against one operation; return what failed."""
    failures: list[str] = []
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]

    # Few examples and no shrinking keep this to seconds; the explicit phase runs the
    # schema's own examples first.
    @hypothesis_settings(
        max_examples=6,
        phases=[Phase.explicit, Phase.generate],
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=checks)
        except (Exception, FailureGroup) as exc:  # noqa: BLE001  (collect, then report)
            failures.append(f"{operation.label} [{mode}]: {exc}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (no input)
    return failures


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    settings, session, sequences_loaded
) -> None:
    # Configured as in production, so the webhooks check signatures rather than answer 503.
    settings(
        calcom_webhook_secret="calcom-webhook-secret-for-tests",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="twilio-auth-token-for-tests",
        twilio_from="+15550100999",
    )
    token = tokens.create(session, name="schemathesis", now=clock.now())
    session.add(Heartbeat(name="tick", beat_at=clock.now()))  # healthy: 503 is for outages
    session.commit()
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _fuzz(result.ok(), mode, headers)
    assert operations == len(MUST_DOCUMENT)
    assert failures == [], "\n\n".join(failures[:8])
