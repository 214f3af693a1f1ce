"""The chat.* and reactions.* methods of the Slack sandbox.

Each handler takes an ApiCall and returns the fields of a successful
response, or raises SlackError with the error code Slack uses. The events
that Slack would send about the bot's own messages go to call.events.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.slack_events import (
    message_changed_event,
    message_deleted_event,
    message_event,
    reaction_event,
)
from sandbox.slack_params import ApiCall, Handler, SlackError
from sandbox.slack_store import (
    APP_ID,
    BOT_ID,
    TEAM_ID,
    ChannelRecord,
    MessageRecord,
    parse_ts,
)

# Slack's limits on one message.
TEXT_MAX = 40_000
BLOCKS_MAX = 50
ATTACHMENTS_MAX = 100
# Arguments that change how Slack renders a message, stored as sent so that
# tests can check them (for example that link_names was set).
DELIVERY_OPTIONS = (
    "link_names",
    "unfurl_links",
    "unfurl_media",
    "as_user",
    "reply_broadcast",
    "mrkdwn",
    "parse",
    "username",
    "icon_emoji",
    "icon_url",
)
# An emoji name without colons, optionally with a skin tone.
_EMOJI = re.compile(r"[a-z0-9_+'-]+(?:::skin-tone-[2-6])?")


def _target_channel(call: ApiCall) -> ChannelRecord:
    """Resolve chat.postMessage's channel: an ID, a #name, or a user ID.

    A user ID posts to the bot's direct message channel with that user.
    """
    value = call.text("channel").strip()
    workspace = call.workspace
    channel: ChannelRecord | None
    user = workspace.users.get(value)
    if user is not None and not user.is_bot:
        channel = workspace.open_im(user.id)
    elif value in workspace.channels:
        channel = workspace.channels[value]
    else:
        channel = workspace.channel_by_name(value.removeprefix("#"))
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.is_private and call.caller not in channel.members:
        raise SlackError("channel_not_found")
    return channel


def _writable_channel(call: ApiCall) -> ChannelRecord:
    channel = _target_channel(call)
    if channel.is_archived:
        raise SlackError("is_archived")
    if call.caller not in channel.members:
        raise SlackError("not_in_channel")
    return channel


class _Content:
    """The text, blocks and attachments of a new or updated message."""

    def __init__(self, call: ApiCall) -> None:
        self.text = call.text("text")
        self.blocks = call.json_list("blocks", "invalid_blocks_format")
        self.attachments = call.json_list("attachments", "invalid_attachments")
        if self.blocks is not None:
            if len(self.blocks) > BLOCKS_MAX:
                raise SlackError("invalid_blocks")
            for block in self.blocks:
                if not isinstance(block, dict) or not isinstance(
                    block.get("type"), str
                ):
                    raise SlackError("invalid_blocks")
        if self.attachments is not None:
            if len(self.attachments) > ATTACHMENTS_MAX:
                raise SlackError("too_many_attachments")
            if not all(isinstance(item, dict) for item in self.attachments):
                raise SlackError("invalid_attachments")
            # Slack numbers the attachments of a message from 1.
            self.attachments = [
                {"id": index, **item}
                for index, item in enumerate(self.attachments, start=1)
            ]
        if not self.text and not self.blocks and not self.attachments:
            raise SlackError("no_text")
        if len(self.text) > TEXT_MAX:
            raise SlackError("msg_too_long")


def _options(call: ApiCall) -> dict[str, Any]:
    return {
        name: call.arguments[name]
        for name in DELIVERY_OPTIONS
        if name in call.arguments
    }


def _thread_ts(call: ApiCall) -> str | None:
    if not call.has("thread_ts"):
        return None
    thread_ts = call.text("thread_ts")
    if not parse_ts(thread_ts):
        raise SlackError("invalid_thread_ts")
    # Slack accepts a well-formed thread_ts that matches no message and
    # stores a reply that no thread shows (reported in
    # slackapi/python-slack-sdk#840), so the sandbox does the same.
    return thread_ts


def chat_post_message(call: ApiCall) -> dict[str, Any]:
    channel = _writable_channel(call)
    content = _Content(call)
    thread_ts = _thread_ts(call)
    broadcast = thread_ts is not None and call.flag("reply_broadcast")
    bot = call.workspace.bot
    message = MessageRecord(
        ts=call.workspace.clock.next_ts(),
        channel=channel.id,
        user=bot.id,
        text=content.text,
        bot_id=BOT_ID,
        thread_ts=thread_ts,
        subtype="thread_broadcast" if broadcast else None,
        blocks=content.blocks,
        attachments=content.attachments,
        options=_options(call),
        extra={
            "bot_profile": {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": bot.name,
                "icons": {},
                "deleted": False,
                "updated": bot.updated,
                "team_id": TEAM_ID,
            }
        },
    )
    channel.messages.append(message)
    call.events.append(message_event(channel, message))
    return {
        "channel": channel.id,
        "ts": message.ts,
        "message": channel.message_json(message),
    }


def chat_update(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_inactive")
    message = channel.find_message(call.text("ts"))
    if message is None:
        raise SlackError("message_not_found")
    if message.user != call.caller:
        raise SlackError("cant_update_message")
    content = _Content(call)

    previous = channel.message_json(message)
    edited_ts = call.workspace.clock.next_ts()
    message.edits.append(
        {
            "edited_ts": edited_ts,
            "user": call.caller,
            "previous_text": message.text,
            "previous_blocks": message.blocks,
            **_options(call),
        }
    )
    message.text = content.text
    # Old blocks and attachments stay unless the update sends new ones, and
    # an empty list removes them.
    # NOTE: Slack documents this rule for metadata; that it applies to
    # blocks and attachments as well is unverified.
    if content.blocks is not None:
        message.blocks = content.blocks or None
    if content.attachments is not None:
        message.attachments = content.attachments or None
    message.edited = {"user": call.caller, "ts": edited_ts}

    call.events.append(message_changed_event(channel, previous, message, edited_ts))
    return {
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": channel.message_json(message),
    }


def chat_post_ephemeral(call: ApiCall) -> dict[str, Any]:
    channel = _writable_channel(call)
    user_id = call.text("user")
    if user_id not in call.workspace.users:
        raise SlackError("user_not_found")
    if user_id not in channel.members:
        raise SlackError("user_not_in_channel")
    content = _Content(call)
    ts = call.workspace.clock.next_ts()
    channel.ephemeral.append(
        {
            "ts": ts,
            "user": user_id,
            "text": content.text,
            "blocks": content.blocks,
            "attachments": content.attachments,
            "thread_ts": _thread_ts(call),
            **_options(call),
        }
    )
    return {"message_ts": ts}


def chat_delete(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    message = channel.find_message(call.text("ts"))
    if message is None:
        raise SlackError("message_not_found")
    if message.user != call.caller:
        raise SlackError("cant_delete_message")
    previous = channel.message_json(message)
    message.deleted = True
    event_ts = call.workspace.clock.next_ts()
    call.events.append(message_deleted_event(channel, previous, event_ts))
    return {"channel": channel.id, "ts": message.ts}


def chat_get_permalink(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    message = channel.find_message(call.text("message_ts"))
    if message is None:
        raise SlackError("message_not_found")
    permalink = f"{call.base_url}/archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": permalink}


# Reactions


def _reaction_target(call: ApiCall) -> tuple[ChannelRecord, MessageRecord, str]:
    name = call.text("name")
    if not _EMOJI.fullmatch(name):
        # Slack also rejects names of emoji the workspace lacks, but the
        # sandbox accepts every well-formed name.
        raise SlackError("invalid_name")
    if not call.has("channel") or not call.has("timestamp"):
        raise SlackError("no_item_specified")
    channel = call.channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    message = channel.find_message(call.text("timestamp"))
    if message is None:
        raise SlackError("message_not_found")
    return channel, message, name


def add_reaction(message: MessageRecord, user_id: str, name: str) -> bool:
    """Add user_id's reaction; return False when it was already there."""
    for reaction in message.reactions:
        if reaction["name"] == name:
            if user_id in reaction["users"]:
                return False
            reaction["users"].append(user_id)
            reaction["count"] = len(reaction["users"])
            return True
    message.reactions.append({"name": name, "users": [user_id], "count": 1})
    return True


def remove_reaction(message: MessageRecord, user_id: str, name: str) -> bool:
    """Remove user_id's reaction; return False when there was none."""
    for reaction in message.reactions:
        if reaction["name"] == name and user_id in reaction["users"]:
            reaction["users"].remove(user_id)
            reaction["count"] = len(reaction["users"])
            if not reaction["users"]:
                message.reactions.remove(reaction)
            return True
    return False


def reactions_add(call: ApiCall) -> dict[str, Any]:
    channel, message, name = _reaction_target(call)
    if not add_reaction(message, call.caller, name):
        raise SlackError("already_reacted")
    _queue_reaction_event(call, channel, message, name, added=True)
    return {}


def reactions_remove(call: ApiCall) -> dict[str, Any]:
    channel, message, name = _reaction_target(call)
    if not remove_reaction(message, call.caller, name):
        raise SlackError("no_reaction")
    _queue_reaction_event(call, channel, message, name, added=False)
    return {}


def _queue_reaction_event(
    call: ApiCall,
    channel: ChannelRecord,
    message: MessageRecord,
    name: str,
    *,
    added: bool,
) -> None:
    call.events.append(
        reaction_event(
            added=added,
            user_id=call.caller,
            name=name,
            channel=channel,
            message=message,
            event_ts=call.workspace.clock.next_ts(),
        )
    )


METHODS: dict[str, Handler] = {
    "chat.delete": chat_delete,
    "chat.getPermalink": chat_get_permalink,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "reactions.add": reactions_add,
    "reactions.remove": reactions_remove,
}
