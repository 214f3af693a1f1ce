"""Errbot storage plugin that keeps every namespace in one SQLite database.

Errbot's default Shelf storage can lose writes when the process dies. Where
Python lacks dbm.gnu and dbm.ndbm, shelve uses dbm.dumb, which writes the index
of changed keys only on close. Here every set() and remove() is committed, in WAL
mode with synchronous=FULL, before it returns.

Errbot loads this module by file path (see sqlite.plug), so it must not import
anything from the rest of the repository. Errbot also expects exactly one
StoragePluginBase subclass in it.
"""

import logging
import pickle
import sqlite3
import threading
from pathlib import Path
from typing import Any

from errbot.storage.base import StorageBase, StoragePluginBase

log = logging.getLogger(__name__)

DEFAULT_FILE_NAME = "storage.sqlite3"

# Seconds a write waits for another connection (another namespace) to release the
# database's write lock before it fails with "database is locked". A write holds
# the lock for one commit, so waiting this long means something is stuck.
BUSY_TIMEOUT_SECONDS = 30.0

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""


class StorageOpenError(Exception):
    """The SQLite database file could not be opened or set up."""


class SQLiteStorage(StorageBase):
    """Key-value store of one namespace, with its own connection to the database."""

    def __init__(self, path: Path, namespace: str) -> None:
        self.path = path
        self.namespace = namespace
        # Errbot calls storage from its worker threads, so the connection is shared
        # between threads and the lock lets one statement run at a time.
        self._lock = threading.Lock()
        self._connection = _connect(path)

    def set(self, key: str, value: Any) -> None:
        _check_key(key)
        blob = pickle.dumps(value, protocol=pickle.DEFAULT_PROTOCOL)
        with self._lock:
            # The connection is in autocommit mode, so the statement is committed
            # (and the WAL synced) when execute() returns.
            self._connection.execute(
                "INSERT OR REPLACE INTO entries (namespace, key, value) "
                "VALUES (?, ?, ?)",
                (self.namespace, key, blob),
            )

    def get(self, key: str) -> Any:
        _check_key(key)
        with self._lock:
            row = self._connection.execute(
                "SELECT value FROM entries WHERE namespace = ? AND key = ?",
                (self.namespace, key),
            ).fetchone()
        if row is None:
            raise KeyError(key)
        return pickle.loads(row[0])

    def remove(self, key: str) -> None:
        _check_key(key)
        with self._lock:
            cursor = self._connection.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ?",
                (self.namespace, key),
            )
        if cursor.rowcount == 0:
            raise KeyError(key)

    def len(self) -> int:
        with self._lock:
            row = self._connection.execute(
                "SELECT count(*) FROM entries WHERE namespace = ?",
                (self.namespace,),
            ).fetchone()
        return int(row[0])

    def keys(self) -> list[str]:
        """Return the keys of the namespace, sorted, as a list.

        A list, not a live view, so callers may set or remove keys while they
        iterate over it.
        """
        with self._lock:
            rows = self._connection.execute(
                "SELECT key FROM entries WHERE namespace = ? ORDER BY key",
                (self.namespace,),
            ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()
        log.debug("Closed SQLite storage namespace %s in %s", self.namespace, self.path)


class SQLiteStoragePlugin(StoragePluginBase):
    """Storage plugin that opens namespaces in one SQLite file.

    The file is STORAGE_CONFIG["path"], or storage.sqlite3 in BOT_DATA_DIR.
    """

    def __init__(self, bot_config: Any) -> None:
        super().__init__(bot_config)
        configured = self._storage_config.get("path")
        if configured:
            self.path = Path(configured).expanduser()
        else:
            self.path = Path(bot_config.BOT_DATA_DIR) / DEFAULT_FILE_NAME
        log.info("SQLite storage file: %s", self.path)

    def open(self, namespace: str) -> SQLiteStorage:
        log.debug("Opening SQLite storage namespace %s in %s", namespace, self.path)
        return SQLiteStorage(self.path, namespace)


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
    except (OSError, sqlite3.Error) as error:
        raise StorageOpenError(_open_failure(path, error)) from error

    try:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        # FULL syncs the WAL on every commit, so a commit also survives a power
        # loss. The default NORMAL in WAL mode only survives a process crash.
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(_CREATE_TABLE)
    except sqlite3.Error as error:
        connection.close()
        raise StorageOpenError(_open_failure(path, error)) from error

    if mode != "wal":
        # SQLite keeps the old mode where WAL is unsupported (some network file
        # systems). Commits are still synced there, but readers block writers.
        log.warning(
            "SQLite storage %s stays in journal mode %r because WAL is unavailable",
            path,
            mode,
        )
    return connection


def _open_failure(path: Path, error: Exception) -> str:
    return (
        f"failed to open SQLite storage {path}: {error}. Check that the bot's user "
        f"can write to {path.parent}, or set STORAGE_CONFIG['path'] in config.py."
    )


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(
            f"invalid storage key {key!r}: keys must be str, not {type(key).__name__}"
        )
