"""The data folder and the log folder are for this user only.

The catalogue holds every path of the library, its tags and OCR text; the
thumbnails show every picture. So the folders are made ``0700`` (and a folder
an older version made looser is tightened once, when it is ours), and the
catalogue's files ``0600``, whatever the umask: another local user can read
none of it. (On Windows the folder inherits the user profile's ACL, which
already keeps other users out.)
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["make_private_file", "make_private_folder"]

log = logging.getLogger(__name__)

_POSIX = os.name == "posix"


def make_private_folder(path: Path) -> Path:
    """Create ``path`` (and its parents) if missing, and leave it ``0700``."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(path, 0o700)
    return path


def make_private_file(path: Path) -> None:
    """Leave an existing file ``0600`` (a missing one is left missing)."""
    _tighten(path, 0o600)


def _tighten(path: Path, mode: int) -> None:
    if not _POSIX:
        return
    try:
        st = path.stat()
        if st.st_uid != os.getuid() or not stat.S_IMODE(st.st_mode) & 0o077:
            return
        os.chmod(path, mode)
    except FileNotFoundError:
        return
    except OSError as exc:  # a file system without permissions (FAT, some shares)
        log.debug("could not make %s private: %s", path, exc)
        return
    log.info("made %s readable by this user only (mode %o)", path, mode)
