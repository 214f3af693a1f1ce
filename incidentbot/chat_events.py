"""Fields of an incoming chat message besides its text: Slack event, timestamp.

Errbot's Slack backend keeps the raw Slack event in `msg.extras["slack_event"]`;
other backends (and the tests) may put the Slack timestamp in
`msg.extras["ts"]`. Messages are duck-typed, so this module needs no Errbot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Extras key a plugin sets on an incoming message whose reply is meant for its
# sender only, such as an error or help. The Slack backend then shows the reply
# of a slash command to that person alone.
PRIVATE_REPLY = "private_reply"
# Extras key the Slack backend sets on a message that someone edited, which it
# hands to plugins' callback_message_edit instead of running it as a command.
EDITED = "edited"


def slack_event(msg: Any) -> dict[str, Any]:
    """Return the raw Slack event behind a message, or an empty dict."""
    event = (msg.extras or {}).get("slack_event")
    return event if isinstance(event, dict) else {}


def message_ts(msg: Any) -> str | None:
    """Return the message's Slack timestamp, its id within the channel.

    For an edit (subtype message_changed) that is the edited message's
    timestamp, not the edit event's, so the edit replaces the stored copy.
    """
    event = slack_event(msg)
    edited = event.get("message") if event.get("subtype") == "message_changed" else None
    if isinstance(edited, dict) and edited.get("ts"):
        return str(edited["ts"])
    ts = event.get("ts") or (msg.extras or {}).get("ts")
    return str(ts) if ts else None


def delivery_key(msg: Any) -> str | None:
    """Return a key that is the same for every delivery of one message."""
    event_id = (msg.extras or {}).get("event_id")
    if event_id:
        return f"event:{event_id}"
    ts = message_ts(msg)
    if not ts:
        return None
    conversation = msg.to if msg.is_group else msg.frm
    channel = getattr(conversation, "id", None) or str(conversation)
    return f"message:{channel}:{ts}"


def ts_time(ts: str) -> datetime | None:
    """Return the UTC time a Slack timestamp stands for, or None if it is no number."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
