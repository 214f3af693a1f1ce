"""Socket Mode envelopes and the Events API events that the sandbox sends.

The shapes follow what a Socket Mode app receives from Slack: an envelope
with an envelope_id that the app acknowledges, around an event_callback
payload or a slash command payload.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from sandbox.slack_store import (
    APP_ID,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    ChannelRecord,
    MessageRecord,
)

# The deprecated verification token that Slack still puts in payloads.
VERIFICATION_TOKEN = "sandbox-verification-token"


def new_envelope_id() -> str:
    return str(uuid.uuid4())


def new_event_id() -> str:
    return "Ev" + secrets.token_hex(5).upper()


def new_trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}"


def events_api_envelope(
    event: dict[str, Any],
    *,
    envelope_id: str,
    event_id: str,
    retry_attempt: int,
    retry_reason: str,
) -> dict[str, Any]:
    """Wrap an event in an event_callback payload and an events_api envelope."""
    return {
        "envelope_id": envelope_id,
        "payload": {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "context_team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        },
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": retry_attempt,
        "retry_reason": retry_reason,
    }


def slash_command_envelope(
    *,
    envelope_id: str,
    command: str,
    text: str,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    response_url: str,
    trigger_id: str,
) -> dict[str, Any]:
    """Build a slash_commands envelope. Slack sends every value as a string."""
    return {
        "envelope_id": envelope_id,
        "payload": {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        },
        "type": "slash_commands",
        "accepts_response_payload": True,
    }


def hello_message(connections: int) -> dict[str, Any]:
    """Build the first frame of every Socket Mode connection."""
    return {
        "type": "hello",
        "num_connections": connections,
        "debug_info": {
            "host": "sandbox",
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": APP_ID},
    }


def disconnect_message(reason: str) -> dict[str, Any]:
    return {"type": "disconnect", "reason": reason, "debug_info": {"host": "sandbox"}}


def message_event(channel: ChannelRecord, message: MessageRecord) -> dict[str, Any]:
    """Build the message event for a new message."""
    event = channel.message_json(message)
    event.update(
        {
            "channel": channel.id,
            "event_ts": message.ts,
            "channel_type": channel.channel_type,
        }
    )
    return event


def message_changed_event(
    channel: ChannelRecord,
    previous: dict[str, Any],
    message: MessageRecord,
    event_ts: str,
) -> dict[str, Any]:
    """Build the message_changed event. previous is the message JSON before."""
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "message": channel.message_json(message),
        "previous_message": previous,
        "channel": channel.id,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel.channel_type,
    }


def message_deleted_event(
    channel: ChannelRecord, previous: dict[str, Any], event_ts: str
) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": previous["ts"],
        "previous_message": previous,
        "channel": channel.id,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel.channel_type,
    }


def reaction_event(
    *,
    added: bool,
    user_id: str,
    name: str,
    channel: ChannelRecord,
    message: MessageRecord,
    event_ts: str,
) -> dict[str, Any]:
    """Build reaction_added or reaction_removed for a reaction on a message."""
    event: dict[str, Any] = {
        "type": "reaction_added" if added else "reaction_removed",
        "user": user_id,
        "reaction": name,
        "item": {"type": "message", "channel": channel.id, "ts": message.ts},
    }
    # Slack leaves item_user out when the message has no user, as for
    # messages that integrations post without a bot user.
    if message.user is not None:
        event["item_user"] = message.user
    event["event_ts"] = event_ts
    return event
