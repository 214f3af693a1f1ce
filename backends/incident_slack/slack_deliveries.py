"""Record of handled Slack deliveries, kept in SQLite so that it survives a restart.

Slack retries an event up to three times, the last about five minutes after
the first (Events API documentation), and a bot restarted in that window
must still drop the retries.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# File name of the record inside the bot's data directory (BOT_DATA_DIR).
DELIVERIES_FILE = "slack_deliveries.sqlite"
# Seconds a delivery stays recorded: Slack's five minutes of retries, three
# times over, so that a slow restart does not lose them.
RETENTION_SECONDS = 15 * 60.0
# Fields that make two slash-command envelopes the same request. Slack sends
# a new trigger_id with every invocation, so a repeat with an equal one is a
# redelivery and not a person typing the command again.
SLASH_COMMAND_FIELDS = ("command", "text", "user_id", "channel_id", "trigger_id")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_key TEXT PRIMARY KEY,
    received_at REAL NOT NULL
)
"""


class DeliveryLog:
    """Thread-safe set of delivery keys in a SQLite file, pruned by age."""

    def __init__(
        self,
        path: Path | str,
        retention_seconds: float = RETENTION_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention_seconds <= 0:
            raise ValueError(
                f"retention_seconds must be positive, got {retention_seconds}"
            )
        self.path = Path(path)
        self._retention = retention_seconds
        # Wall-clock time, because the recorded times must stay comparable
        # across restarts.
        self._clock = clock
        self._lock = threading.Lock()
        # One connection shared by the Socket Mode threads, so the lock
        # serialises every use of it.
        try:
            self._connection = sqlite3.connect(self.path, check_same_thread=False)
            with self._lock, self._connection:
                self._connection.execute(_SCHEMA)
        except sqlite3.Error as error:
            raise sqlite3.OperationalError(
                f"cannot open the Slack delivery record {self.path}: {error}. "
                "Check that BOT_DATA_DIR exists and the bot can write to it."
            ) from error

    def first_time(self, key: str) -> bool:
        """Record a delivery key and return True unless it is already recorded.

        The row is committed before this returns, so a crash while the
        delivery is handled still drops its retries.
        """
        now = self._clock()
        with self._lock, self._connection:
            self._connection.execute(
                "DELETE FROM deliveries WHERE received_at < ?",
                (now - self._retention,),
            )
            cursor = self._connection.execute(
                "INSERT OR IGNORE INTO deliveries (delivery_key, received_at) "
                "VALUES (?, ?)",
                (key, now),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def event_key(payload: Mapping[str, Any]) -> str | None:
    """Return the delivery key of an events_api payload, or None without event_id."""
    event_id = payload.get("event_id")
    return f"event:{event_id}" if event_id else None


def slash_command_key(payload: Mapping[str, Any]) -> str:
    """Return the delivery key of a slash_commands payload.

    It is a SHA-256 digest of SLASH_COMMAND_FIELDS, because the payload has
    no id of its own and the text may be long.
    """
    fields = [str(payload.get(name, "")) for name in SLASH_COMMAND_FIELDS]
    digest = hashlib.sha256(json.dumps(fields).encode()).hexdigest()
    return f"slash_command:{digest}"
