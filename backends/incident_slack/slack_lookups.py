"""A WebClient that caches the lookups the Slack backend repeats for every event.

errbot-backend-slackv3 0.3.2 builds a SlackRoom and a SlackPerson for each
message, and each one calls conversations.info, users.info or team.info again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse, WebClient

log = logging.getLogger(__name__)

# Read-only lookups whose successful responses are cached.
CACHED_METHODS = ("users.info", "conversations.info", "team.info")
# conversations.* reads that change nothing, so they keep the cache.
READ_ONLY_METHODS = (
    "conversations.history",
    "conversations.replies",
    "conversations.list",
    "conversations.members",
)
# Lookups of who posted. The stock backend expects a failed one to return
# {"ok": false} and goes on without the name, but slack_sdk raises instead,
# so a failed lookup of an app's bot dropped the app's whole message.
AUTHOR_METHODS = ("users.info", "bots.info")
# Seconds a lookup stays cached. A renamed channel or user shows its old name
# for up to this long, except after the bot's own conversations.* changes.
CACHE_SECONDS = 300.0


class CachingWebClient(WebClient):
    """WebClient that reuses successful users, channel and team lookups."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
        self._cache_lock = threading.Lock()

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method in AUTHOR_METHODS:
            try:
                return self._lookup(api_method, **kwargs)
            except SlackApiError as error:
                log.warning(
                    "Failed to look up the author %s (%s returned %s), so the "
                    "message is handled without the author's name. If the error "
                    "is missing_scope, add users:read to the Slack app.",
                    kwargs.get("params"),
                    api_method,
                    error.response.get("error"),
                )
                return error.response
        return self._lookup(api_method, **kwargs)

    def _lookup(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method not in CACHED_METHODS:
            if api_method.startswith("conversations.") and (
                api_method not in READ_ONLY_METHODS
            ):
                # The bot changed a channel (created, joined, set its topic),
                # so its stored description may be out of date.
                self._forget("conversations.info")
            return super().api_call(api_method, **kwargs)

        params = kwargs.get("params") or {}
        key = (
            api_method,
            tuple(sorted((k, str(v)) for k, v in params.items() if v is not None)),
        )
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            response: SlackResponse = cached[1]
            return response

        response = super().api_call(api_method, **kwargs)
        if response.get("ok"):
            with self._cache_lock:
                self._cache[key] = (now, response)
        return response

    def _forget(self, api_method: str) -> None:
        with self._cache_lock:
            for key in [key for key in self._cache if key[0] == api_method]:
                del self._cache[key]
