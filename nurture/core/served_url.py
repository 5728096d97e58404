"""The address `nurture up` serves, kept in the data directory for commands run beside it.

`nurture up --port N` writes it so that `nurture tick`, `nurture staff create` and the rest,
run from another terminal with the same data directory, print links that reach that instance.
NURTURE_BASE_URL, when set, always wins and nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nurture.core.private_files import private_dir

URL_FILE = "base_url"


def url_path(data_dir: Path) -> Path:
    """Return where the served address is kept for a data directory."""
    return (data_dir / URL_FILE).resolve()


def record(data_dir: Path, url: str) -> None:
    """Write the served address atomically, replacing any earlier one."""
    path = url_path(data_dir)
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(prefix=f".{URL_FILE}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(url + "\n")
        # A reader sees the old address or the new one, never half of one.
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def recorded(data_dir: Path) -> str | None:
    """Return the address `nurture up` last served from `data_dir`, or None.

    It is kept after `up` stops (or crashes): the last address served is still the best guess,
    and the next `up` overwrites it. Anything but one http(s) address is ignored.
    """
    try:
        text = url_path(data_dir).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith(("http://", "https://")) or any(c.isspace() for c in text):
        return None
    return text.rstrip("/")
