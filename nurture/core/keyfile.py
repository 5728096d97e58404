"""The signing key kept in the data directory when NURTURE_SECRET_KEY is unset.

Each installation makes its own random key on first run, so no two installations accept each
other's links or sessions and nothing is ever signed with a value published in the source.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

from nurture.core.private_files import private_dir

KEY_FILE = "secret_key"
MIN_LENGTH = 32


class KeyFileError(RuntimeError):
    """The key file can neither be read nor created."""


def key_path(data_dir: Path) -> Path:
    """Return where the generated key lives for a data directory."""
    return (data_dir / KEY_FILE).resolve()


def load_or_create(data_dir: Path) -> str:
    """Return the key kept in `data_dir`, making a random one (mode 0600) on first run."""
    path = key_path(data_dir)
    try:
        key = _read(path)
        if key is None:
            private_dir(path.parent)
            _create(path)
            key = _read(path)
    except OSError as exc:
        raise KeyFileError(
            f"cannot keep a generated secret key in {path} ({exc}); "
            "make the data directory writable or set NURTURE_SECRET_KEY"
        ) from exc
    if key is None or len(key) < MIN_LENGTH:
        raise KeyFileError(
            f"{path} does not hold a key of {MIN_LENGTH}+ characters; delete it to make a new one "
            "(links already sent stop working) or set NURTURE_SECRET_KEY"
        )
    return key


def _read(path: Path) -> str | None:
    # An empty file is a winner still writing (only on filesystems without hard links): wait.
    for _ in range(100):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        if text:
            return text
        time.sleep(0.02)
    return ""


def _create(path: Path) -> None:
    # Several processes (web, worker, beat) may start at once. The key is written in full to a
    # private temporary file, then hard-linked into place: linking never replaces an existing
    # file, so exactly one process wins and the others read the winner's complete key.
    key = secrets.token_urlsafe(48) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=f".{KEY_FILE}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
        except OSError:
            _create_in_place(path, key)
    finally:
        os.unlink(temporary)


def _create_in_place(path: Path, key: str) -> None:
    # Without hard links, O_EXCL still picks one winner; readers wait out the moment it is empty.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
