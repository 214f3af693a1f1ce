"""Handles of Slack user groups, read with usergroups.list and cached.

A message mentions a user group as <!subteam^S123>, often with no label, so
showing it as "@oncall" needs the group's handle. One usergroups.list call
returns every group, so the whole list is cached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_lookups import CACHE_SECONDS
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import WebClient

log = logging.getLogger(__name__)

# After a miss, the list is read again if it is at least this many seconds
# old, so that a group made a moment ago is found without a call per mention.
MISS_REFRESH_SECONDS = 30.0


class UsergroupHandles:
    """User group id to handle, from usergroups.list, kept for CACHE_SECONDS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._handles: dict[str, str] = {}
        # Monotonic time of the last read, successful or not; None before one.
        self._read_at: float | None = None

    def handle(self, client: WebClient, group_id: str) -> str | None:
        """Return the handle of a user group ("oncall"), or None if unknown.

        A failed usergroups.list call is logged, and the previous list, if
        any, is used until the next read is due.
        """
        with self._lock:
            now = self._clock()
            age = None if self._read_at is None else now - self._read_at
            stale = age is None or age >= CACHE_SECONDS
            missing = group_id not in self._handles
            if stale or (missing and age is not None and age >= MISS_REFRESH_SECONDS):
                self._read(client, now)
            return self._handles.get(group_id)

    def _read(self, client: WebClient, now: float) -> None:
        self._read_at = now
        try:
            response = client.usergroups_list(include_disabled=True)
        except SlackApiError as error:
            log.warning(
                "usergroups.list failed: Slack returned %s; user group mentions "
                "show Slack's label or the group id until it works (the bot "
                "needs the usergroups:read scope)",
                error.response.get("error"),
            )
            return
        except (SlackClientError, OSError) as error:
            log.warning("usergroups.list failed: %s", error)
            return
        self._handles = {
            str(group["id"]): str(group["handle"])
            for group in response.get("usergroups") or []
            if group.get("id") and group.get("handle")
        }
        log.info("read %d Slack user groups", len(self._handles))
