"""Reminders with persisted due times, run by one poller.

Due times live in the same persistent mapping as the incidents, so a restart
finds them again: the poller's first run after start-up fires everything that
fell due while the bot was down, once. The clock is passed in, so tests move
time instead of waiting for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

REMINDER_PREFIX = "reminder/"
# A reminder whose handler failed is tried again after this long.
RETRY_AFTER = timedelta(minutes=5)


@dataclass
class Reminder:
    """Something to do at `due`: `kind` picks the handler, `ref` the incident."""

    key: str
    kind: str
    ref: str
    due: datetime
    data: dict[str, Any] = field(default_factory=dict)


# A handler returns when the reminder should run again, or None when it is done.
Handler = Callable[[Reminder, datetime], datetime | None]


class Schedule:
    """The set of pending reminders and the code that runs them when due."""

    def __init__(
        self, data: MutableMapping[str, Any], clock: Callable[[], datetime]
    ) -> None:
        self._data = data
        self._clock = clock
        self._lock = threading.RLock()
        self._handlers: dict[str, Handler] = {}

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def set(self, reminder: Reminder) -> None:
        """Add a reminder, or move an existing one with the same key."""
        with self._lock:
            self._data[REMINDER_PREFIX + reminder.key] = reminder

    def cancel(self, key: str) -> bool:
        with self._lock:
            full_key = REMINDER_PREFIX + key
            if full_key not in self._data:
                return False
            del self._data[full_key]
            return True

    def get(self, key: str) -> Reminder | None:
        value = self._data.get(REMINDER_PREFIX + key)
        return value if isinstance(value, Reminder) else None

    def pending(self) -> list[Reminder]:
        keys = [
            key for key in list(self._data.keys()) if key.startswith(REMINDER_PREFIX)
        ]
        found = [self._data.get(key) for key in keys]
        reminders = [item for item in found if isinstance(item, Reminder)]
        return sorted(reminders, key=lambda item: item.due)

    def run_due(self) -> int:
        """Run every reminder that is due and return how many ran.

        One failing reminder is logged and tried again later, and the others
        still run.
        """
        with self._lock:
            now = self._clock()
            ran = 0
            for reminder in self.pending():
                if reminder.due > now:
                    break
                self._run(reminder, now)
                ran += 1
            return ran

    def _run(self, reminder: Reminder, now: datetime) -> None:
        handler = self._handlers.get(reminder.kind)
        if handler is None:
            # Another plugin registers its kinds when Errbot activates it,
            # which can be after the first poll, so the reminder is kept.
            log.warning(
                "no handler for reminder %s of kind %s yet; trying again in %s",
                reminder.key,
                reminder.kind,
                RETRY_AFTER,
            )
            reminder.due = now + RETRY_AFTER
            self.set(reminder)
            return
        try:
            next_due = handler(reminder, now)
        except Exception:
            log.exception(
                "reminder %s for %s failed; trying again in %s",
                reminder.key,
                reminder.ref,
                RETRY_AFTER,
            )
            next_due = now + RETRY_AFTER
        current = self.get(reminder.key)
        if current is not None and current.due != reminder.due:
            # The handler (or a command meanwhile) moved the reminder itself.
            return
        if next_due is None:
            self.cancel(reminder.key)
            return
        reminder.due = next_due
        self.set(reminder)
