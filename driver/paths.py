"""Where needlepen keeps its data by default: the user data directory (platformdirs).

`NEEDLEPEN_DATA_DIR` overrides the directory (a clinic's shared volume, a test's temporary
directory); `--db` and `db=` override the database file itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from driver.errors import StoreError

APP_NAME = "needlepen"
DB_FILENAME = "needlepen.db"
DATA_DIR_ENV = "NEEDLEPEN_DATA_DIR"


def data_dir(create: bool = True) -> Path:
    """The directory holding needlepen's data, created (private to the user) when asked."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        directory = Path(override).expanduser()
    else:
        directory = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"The data directory {directory} could not be created ({exc.strerror or exc})."
            ) from exc
        if not directory.is_dir():
            raise StoreError(f"The data directory {directory} exists but is not a directory.")
    return directory


def default_db_path(create_dir: bool = True) -> Path:
    """The audit store used when no `--db` or `db=` is given."""
    return data_dir(create=create_dir) / DB_FILENAME
