"""The embedded broker never hands a worker a message that is still being written."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from kombu import Connection
from kombu.transport import filesystem

from nurture.core.broker_files import Transport

MESSAGES = 300


def test_a_polling_reader_never_sees_a_half_written_message(tmp_path: Path) -> None:
    # kombu's own transport fails this: the reader takes files still being written (#1551),
    # and a worker stops on the JSON error, which stops `nurture up`.
    options = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path),
        "store_processed": False,
    }
    payload = {"body": "x" * 200_000}  # large enough that a write takes a while
    with (
        Connection("filesystem://", transport=Transport, transport_options=options) as out,
        Connection("filesystem://", transport=Transport, transport_options=options) as into,
    ):
        writer_channel, reader_channel = out.default_channel, into.default_channel
        done = threading.Event()

        def write() -> None:
            for _ in range(MESSAGES):
                writer_channel._put("q", payload)
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        received, broken = 0, 0
        while received + broken < MESSAGES:
            try:
                message = reader_channel._get("q")
            except filesystem.Empty:
                if done.is_set() and not any(tmp_path.glob("*.msg*")):
                    break
                continue
            except json.JSONDecodeError:
                broken += 1
                continue
            assert message == payload
            received += 1
        writer.join()
    assert (received, broken) == (MESSAGES, 0)


def test_the_embedded_broker_keeps_its_files_in_the_data_directory(tmp_path: Path) -> None:
    from nurture.celery_app import app
    from nurture.core.config import get_settings

    if get_settings().broker_url:
        pytest.skip("the embedded broker is the filesystem transport; this run uses a server")

    assert app.conf.broker_transport == "nurture.core.broker_files:Transport"
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
        control = Path(connection.transport_options["control_folder"])
    assert control.is_relative_to(Path(app.conf.broker_transport_options["data_folder_in"]).parent)
