"""Memory of recently delivered Slack event ids, to drop Slack's redeliveries."""

from __future__ import annotations

import threading
from collections import OrderedDict

# Slack retries an event up to three times, the last about five minutes after
# the first (Events API documentation). So, as an estimate, 4096 ids cover the
# retries of a workspace with several hundred events a minute.
DEFAULT_CAPACITY = 4096


class RecentEvents:
    """A bounded, thread-safe set of event ids that forgets the oldest first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        """Record an event id and return True unless it was recorded before."""
        with self._lock:
            if event_id in self._seen:
                self._seen.move_to_end(event_id)
                return False
            self._seen[event_id] = None
            if len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True
