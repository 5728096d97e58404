"""Log lines: a timestamp on each, JSON lines on request, one line per event, no signed tokens."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import httpx
import pytest

import nurture
from nurture.core.logs import REDACTED, JsonFormatter, RedactTokens, TextFormatter, redact
from nurture.core.tokens import make_token
from tests.processes import serving_web

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _tokens() -> dict[str, str]:
    """A real signed token for each page that takes one."""
    return {
        "confirm": make_token("confirm", {"lead": 1}),
        "unsubscribe": make_token("unsubscribe", {"lead": 1}),
        "preferences": make_token("preferences", {"lead": 1}),
        "visit": make_token("visit", {"appointment": 1}),
        "attend": make_token("attend", {"appointment": 1}),
    }


def test_every_page_that_takes_a_token_is_redacted() -> None:
    # Found in the routes' source, so a new page with a token in its path cannot be forgotten.
    route = re.compile(r'@router\.(?:get|post|put|patch|delete)\(\s*"([^"]*\{token\}[^"]*)"')
    paths = {
        path
        for source in Path(nurture.__file__).parent.rglob("*.py")
        for path in route.findall(source.read_text())
    }
    assert {"/confirm/{token}", "/visit/{token}", "/unsubscribe/{token}"} <= paths, paths
    secret = make_token("confirm", {"lead": 1})
    for path in paths:
        line = f'127.0.0.1:5 - "GET {path.replace("{token}", secret)} HTTP/1.1" 200'
        assert secret not in redact(line), path
        assert REDACTED in redact(line)
    assert redact("/studio/visits/2026-12-06") == "/studio/visits/2026-12-06"  # no token there
    assert redact("/anything?token=abc.def&x=1") == f"/anything?token={REDACTED}&x=1"


def _handler(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(RedactTokens())
    logger = logging.getLogger(f"nurture.test.{type(formatter).__name__}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def _crash(logger: logging.Logger, token: str) -> None:
    try:
        raise RuntimeError(f"could not render /visit/{token}\nsecond line")
    except RuntimeError:
        logger.exception("Exception in ASGI application at /confirm/%s", token)


def test_a_traceback_is_one_json_line_without_the_token() -> None:
    logger, out = _handler(JsonFormatter())
    token = make_token("visit", {"appointment": 7})
    _crash(logger, token)
    [line] = out.getvalue().splitlines()
    event = json.loads(line)
    assert re.fullmatch(STAMP, event["time"])
    assert event["level"] == "ERROR"
    assert "Traceback" in event["exception"]
    assert "RuntimeError" in event["exception"]
    assert event["message"] == f"Exception in ASGI application at /confirm/{REDACTED}"
    assert token not in line


def test_every_text_line_of_a_traceback_carries_the_time() -> None:
    logger, out = _handler(TextFormatter())
    token = make_token("visit", {"appointment": 7})
    _crash(logger, token)
    lines = out.getvalue().splitlines()
    assert len(lines) > 3
    prefix = re.compile(STAMP + r" ERROR nurture\.test\.TextFormatter: ")
    assert all(prefix.match(line) for line in lines), lines
    assert token not in out.getvalue()


@pytest.mark.slow
def test_nurture_web_writes_json_lines_with_tokens_redacted(tmp_path: Path) -> None:
    tokens = _tokens()
    with serving_web(tmp_path, log_format="json") as base:
        for page, token in tokens.items():
            httpx.get(f"{base}/{page}/{token}", timeout=10)
        httpx.get(f"{base}/healthz?token=secret-in-a-query", timeout=10)
    text = (tmp_path / "web.log").read_text()
    for token in tokens.values():
        assert token not in text
    assert "secret-in-a-query" not in text
    events = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all(re.fullmatch(STAMP, event["time"]) for event in events)
    access = {e["path"]: e for e in events if e["logger"] == "uvicorn.access"}
    for page in tokens:
        assert f"/{page}/{REDACTED}" in access
    assert access[f"/confirm/{REDACTED}"]["client"].startswith("127.0.0.1:")
    assert any(e["message"].startswith("Uvicorn running on") for e in events)
