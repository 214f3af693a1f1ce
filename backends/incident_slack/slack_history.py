"""Lookup of a single Slack message by channel and ts, thread replies included."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web import WebClient

# conversations.replies pages read before giving up on a ts. The request
# starts the page at the ts (oldest=ts), so the first page should contain it.
# The limit of 5 is a guess that bounds the calls for a ts in no reply page.
MAX_REPLY_PAGES = 5


def find_message(client: WebClient, channel_id: str, ts: str) -> dict[str, Any] | None:
    """Return the raw message with this ts in a channel, or None if there is none.

    conversations.history lists only top-level messages, and a reaction event
    does not say whether its item is a thread reply. So a history result with
    another ts means the ts is a reply or deleted, and conversations.replies,
    which accepts the ts of any message in a thread, looks it up.

    NOTE: tested against the sandbox only, which like Slack's documentation
    of conversations.replies treats a reply's ts as naming its whole thread.
    """
    history = client.conversations_history(
        channel=channel_id, latest=ts, inclusive=True, limit=1
    )
    for message in history.get("messages") or []:
        if message.get("ts") == ts:
            return dict(message)
    return _find_reply(client, channel_id, ts)


def _find_reply(client: WebClient, channel_id: str, ts: str) -> dict[str, Any] | None:
    cursor: str | None = None
    for _ in range(MAX_REPLY_PAGES):
        try:
            replies = client.conversations_replies(
                channel=channel_id, ts=ts, oldest=ts, inclusive=True, cursor=cursor
            )
        except SlackApiError as error:
            # Slack's error for a ts that belongs to no message in a thread.
            if error.response.get("error") == "thread_not_found":
                return None
            raise
        for message in replies.get("messages") or []:
            if message.get("ts") == ts:
                return dict(message)
        cursor = (replies.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None
