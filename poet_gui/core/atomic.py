"""Write files so that a crash or a full disk never leaves a half-written profile, graph or plan.

The data goes to a temporary file in the target's directory (same file system, so the final rename is
atomic), is flushed and fsync'ed, then ``os.replace``-d over the target. Readers therefore see either
the old file or the new one, never a mix. On any failure the temporary file is removed and the target
is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from poet_gui.core.errors import PoetError


def write_text_atomic(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text`` encoded as UTF-8 (newlines written as given)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``; raises :class:`PoetError` naming the path on failure.

    A file that already exists keeps its permission bits (saving over a profile must not change who
    can read it); a new file gets the usual ``0o666`` minus the umask.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise PoetError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise PoetError(f"{path}: cannot write: {exc.strerror or exc}") from exc
        raise


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); platforms without directory fds skip this step."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
