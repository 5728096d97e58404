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
