"""Atomic file writes: a temporary file in the target's folder, flushed, fsynced, then renamed over the target.

An interrupted write never leaves half a file, and an existing file stays intact until the new one is complete.
A writer killed outright (SIGKILL, a power cut) leaves its temporary file behind; ``remove_stale_temporaries``
is how the next run of the same job clears those of its own outputs.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp's names: the prefix, 8 characters from this alphabet, then the suffix (see atomic_write)
TEMPORARY_NAME = r"\.(?:{target})\.[a-z0-9_]{{8}}\.tmp"


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then put it at ``path`` with the usual permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600 files; outputs are for sharing
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)
    return path


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort, as some systems can't open a folder."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def remove_stale_temporaries(folder: str | Path, target: str) -> list[Path]:
    """Delete the temporary files that atomic_write left in ``folder`` for targets whose whole name matches the
    regular expression ``target``; returns them. Not while another process may be writing those targets: its
    rename would then fail."""
    pattern = re.compile(TEMPORARY_NAME.format(target=target))
    try:
        entries = list(Path(folder).iterdir())
    except FileNotFoundError:
        return []
    removed = [entry for entry in entries
               if pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink()]
    for entry in removed:
        entry.unlink(missing_ok=True)
    return removed
