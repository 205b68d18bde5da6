"""Files that hold the ledger or secrets: created 0600 in a 0700 var directory, tightened on start.

They are the SQLite database (its -wal and -shm files take the database's mode from SQLite), the
encrypted credentials file and its lock, the credentials key file and the console session key. A
file or directory found open to the group or to others loses those bits, with a warning; one owned
by another user is only warned about (a key file root keeps readable to the gateway's group, say).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from gateway.settings import Settings

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_OTHERS = 0o077  # group and other permission bits

log = logging.getLogger(__name__)


def make_private_dir(path: Path) -> None:
    """Create `path` 0700 unless it exists (missing parents too: they may hold nothing else)."""
    if path.is_dir():
        return
    for missing in reversed([path, *path.parents]):
        if not missing.exists():
            missing.mkdir(mode=PRIVATE_DIR, exist_ok=True)


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists; tighten it when it does."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        tighten(path)
    else:
        os.close(fd)


def tighten(path: Path) -> None:
    """Take the group's and others' permissions off `path`, if it exists and has any, with a warning."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if not mode & _OTHERS:
        return
    if info.st_uid != os.geteuid():
        log.warning("private file readable by others, owned by another user: left as it is",
                    extra={"path": str(path), "mode": oct(mode)})
        return
    os.chmod(path, mode & ~_OTHERS)
    log.warning("private file was readable by others: permissions tightened",
                extra={"path": str(path), "mode": oct(mode), "new_mode": oct(mode & ~_OTHERS)})


def secure_var(settings: Settings) -> None:
    """On start: the var directory 0700, and every private file already there tightened."""
    make_private_dir(settings.var_dir)
    tighten(settings.var_dir)
    credentials = settings.credentials_file
    for path in (credentials, credentials.with_name(credentials.name + ".lock"), settings.var_dir / "session.key"):
        tighten(path)
    if settings.credentials_key_file is not None:
        tighten(settings.credentials_key_file)


def load_or_create_secret(path: Path) -> bytes:
    """A server secret (console sessions, media links) from `path`, created (0600) on first start."""
    if path.exists():
        tighten(path)
        return bytes.fromhex(path.read_text().strip())
    make_private_dir(path.parent)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex())
    return secret
