"""The per-terminal HMAC key: 32 random bytes in `<db>.key` (64 hex digits), mode 0600, never in the DB."""

from __future__ import annotations

import logging
import os
import re
import secrets
import stat
from pathlib import Path

from .errors import KeyFileError

log = logging.getLogger(__name__)
_HEX_KEY = re.compile(r"[0-9a-f]{64}")


def key_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def load(path: Path) -> bytes:
    """Read the key file; KeyFileError if it is missing or malformed."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"ledger key file missing: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read ledger key file {path}: {exc}") from None
    if not _HEX_KEY.fullmatch(text):
        raise KeyFileError(f"ledger key file {path} is not 64 lower-case hex digits")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("ledger key file %s is readable by others (mode %o); chmod 600 it", path, mode)
    return bytes.fromhex(text)


def create(path: Path) -> bytes:
    """Create a new key file atomically (temp file 0600, fsync, rename, fsync dir); return the key.

    An existing key file is kept and returned (a crash between key and database creation leaves one behind).
    """
    if path.exists():
        return load(path)
    key = secrets.token_bytes(32)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.ykt-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (key.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the key meanwhile: keep theirs
    except FileExistsError:
        os.unlink(tmp)
        return load(path)
    os.unlink(tmp)
    _fsync_dir(path.parent)
    return key


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
