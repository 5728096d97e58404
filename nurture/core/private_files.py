"""Folders and files holding patient data or secrets: only the service's own user may read them.

The data directory keeps the SQLite database, the outbox's emails, broker messages and the
generated signing key. Created with the process's umask (commonly 022) they would be readable by
every user of the machine, so each is created with an explicit mode instead. Modes of folders and
files that already exist are left as the operator set them; `nurture doctor` reports loose ones.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as folders only this user may open; return it."""
    if not path.is_dir():
        if path.parent != path:
            private_dir(path.parent)
        # exist_ok: another process (web, worker, beat) may create it at the same moment.
        path.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def private_opener(path: str, flags: int) -> int:
    """Open like `open()` does, but create a missing file readable by this user only."""
    return os.open(path, flags, FILE_MODE)


def create_private(path: Path) -> None:
    """Create `path` as an empty file only this user may read, unless it exists already."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass


def loose(path: Path) -> bool:
    """Tell whether an existing `path` lets other users (group or anyone) read or enter it."""
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False
