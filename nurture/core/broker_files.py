"""kombu's filesystem transport, with messages that appear in the queue only when complete.

kombu creates a message file under its final name and then writes it, so a worker polling the
folder can take the file while it is still empty and stop on a JSON error (kombu issue #1551),
which ends `nurture up`. Here each message is written under a name the queue ignores and then
renamed into place in one step.
"""

from __future__ import annotations

import json
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import JSONEncoder

from nurture.core.private_files import private_opener


class Channel(filesystem.Channel):
    """A filesystem channel whose put is atomic."""

    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Put `payload` onto `queue`: write a hidden file, then rename it to its queue name."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # The queue matches names by everything after the first dot, so ".part" hides it.
        partial = final + ".part"
        try:
            with open(partial, "wb", opener=private_opener) as fh:
                fh.write(json.dumps(payload, cls=JSONEncoder).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    """The filesystem transport with atomic puts."""

    Channel = Channel

    # Celery's worker loop for polled transports waits up to 2 s for a message before it looks
    # at a stop request, so a SIGTERM took 3 s or more to act on. Returning to the loop every
    # polling interval makes `nurture up`, Ctrl-C and `docker stop` prompt; the folder is read
    # at that pace anyway.
    loop_return_seconds = 0.5

    def drain_events(self, connection: Any, timeout: Any = None) -> Any:  # type: ignore[override]
        """Wait for a message as kombu does, but give up after at most `loop_return_seconds`."""
        if timeout is not None and timeout > self.loop_return_seconds:
            timeout = self.loop_return_seconds
        return super().drain_events(connection, timeout=timeout)  # type: ignore[no-untyped-call]
