"""Log lines for every process: a timestamp on each line, JSON lines on request, no tokens.

`nurture web` hands `logging_config()` to uvicorn; `nurture worker` and `beat` apply it through
Celery's `setup_logging` signal. Signed links (`/confirm/<token>`, `/visit/<token>`, ...) are
credentials, so every line is redacted before it is written, access log and tracebacks alike.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

# Pages whose next path segment is a signed token: anyone holding it acts as the patient.
TOKEN_PAGES = ("confirm", "unsubscribe", "preferences", "visit", "attend")
REDACTED = "[redacted]"
_TOKEN_PATH = re.compile(r"(/(?:" + "|".join(TOKEN_PAGES) + r")/)[^/?#\s\"]+")
_TOKEN_QUERY = re.compile(r"([?&]token=)[^&#\s\"]+", re.IGNORECASE)


def redact(text: str) -> str:
    """Replace every signed token in `text` (a path, a request line, a traceback) with a mark."""
    return _TOKEN_QUERY.sub(r"\1" + REDACTED, _TOKEN_PATH.sub(r"\1" + REDACTED, text))


class RedactTokens(logging.Filter):
    """Redact tokens in a record's message, arguments and traceback before any handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        if isinstance(record.args, tuple):
            # Arguments one by one, so an access line keeps its fields (client, path, status).
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = None  # a malformed record; logging reports it as it would have
        if message is not None and redact(message) != message:
            record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of a uvicorn access line: client, method, path, status."""
    args = record.args
    if record.name != "uvicorn.access" or not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, _version, status = args
    return {"client": client, "method": method, "path": path, "status": status}


class TextFormatter(logging.Formatter):
    """`TIME LEVEL logger: message`, and a traceback's lines carry the same prefix."""

    def format(self, record: logging.LogRecord) -> str:
        """One event; every physical line starts with its time, level and logger."""
        prefix = f"{_timestamp(record)} {record.levelname} {record.name}:"
        lines = [record.getMessage()]
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            lines.append(record.exc_text)
        if record.stack_info:
            lines.append(self.formatStack(record.stack_info))
        return "\n".join(f"{prefix} {line}" for chunk in lines for line in chunk.splitlines())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and a traceback when there is."""

    def format(self, record: logging.LogRecord) -> str:
        """The event as a single line of JSON."""
        event: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_access_fields(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        return json.dumps(event, default=str)


def logging_config(fmt: Literal["text", "json"], level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary: one handler on stderr, redacted, `fmt` lines."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactTokens"}},
        "formatters": {"line": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["redact"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        # uvicorn's own loggers write through the root handler rather than their own.
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
        },
    }


def configure(fmt: Literal["text", "json"], level: str = "INFO") -> None:
    """Apply `logging_config` to this process."""
    import logging.config

    logging.config.dictConfig(logging_config(fmt, level))
    logging.captureWarnings(True)  # a warning is an event too, in the same format


def route_celery_prints() -> None:
    """Send the lines a Celery worker prints on signals (shutdown, restart) through logging."""
    import celery.apps.worker

    shutdown = logging.getLogger("celery.worker.shutdown")

    def say(msg: str, f: object = None) -> None:
        shutdown.warning("%s", msg)

    celery.apps.worker.safe_say = say
