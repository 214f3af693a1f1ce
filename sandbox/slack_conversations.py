"""The conversations.* methods of the Slack sandbox, and users.conversations.

Each handler takes an ApiCall and returns the fields of a successful
response, or raises SlackError with the error code Slack uses.

NOTE: Slack also adds system messages (channel_join, channel_topic,
channel_purpose) to a channel's history. The sandbox does not, so
messages() contains only what people and the bot posted.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any

from sandbox.slack_params import ApiCall, Handler, SlackError, paginate
from sandbox.slack_store import (
    TEAM_ID,
    ChannelRecord,
    MessageRecord,
    format_ts,
    parse_ts,
)

# Channel names: lower-case letters, digits, "-" and "_", at most 80 long.
NAME_MAX = 80
_NAME = re.compile(r"[a-z0-9_-]+")
# Topics and purposes longer than this are rejected with too_long.
TOPIC_MAX = 250
_TYPES = ("public_channel", "private_channel", "mpim", "im")


def _channel_types(call: ApiCall) -> set[str]:
    types = {item.strip() for item in call.text("types", "public_channel").split(",")}
    types.discard("")
    if not types or not types <= set(_TYPES):
        raise SlackError("invalid_types")
    return types


def _type_of(channel: ChannelRecord) -> str:
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


def _member_joined(call: ApiCall, channel: ChannelRecord, user_id: str) -> None:
    call.events.append(
        {
            "type": "member_joined_channel",
            "user": user_id,
            "channel": channel.id,
            "channel_type": "G" if channel.is_private else "C",
            "team": TEAM_ID,
            "inviter": call.caller,
            "event_ts": call.workspace.clock.next_ts(),
        }
    )


def _require_conversation(channel: ChannelRecord) -> None:
    """Reject a direct message where the method needs a channel."""
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")


def conversations_info(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    data = channel.as_json(call.caller)
    if not call.flag("include_num_members"):
        data.pop("num_members", None)
    return {"channel": data}


def conversations_list(call: ApiCall) -> dict[str, Any]:
    return _channel_page(call, member=None)


def users_conversations(call: ApiCall) -> dict[str, Any]:
    user_id = call.text("user") or call.caller
    if user_id not in call.workspace.users:
        raise SlackError("user_not_found")
    return _channel_page(call, member=user_id)


def _channel_page(call: ApiCall, member: str | None) -> dict[str, Any]:
    """Return one page of the channels the caller may see, of the asked types.

    With `member`, only channels that user belongs to are listed.
    """
    types = _channel_types(call)
    exclude_archived = call.flag("exclude_archived")
    selected = []
    for channel in call.workspace.channels.values():
        if member is not None and member not in channel.members:
            continue
        if _type_of(channel) not in types:
            continue
        if channel.is_private and call.caller not in channel.members:
            continue
        if exclude_archived and channel.is_archived:
            continue
        selected.append(channel.as_json(call.caller))
    page, next_cursor = paginate(call, selected, default=100, maximum=1000)
    return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}


def conversations_create(call: ApiCall) -> dict[str, Any]:
    name = call.text("name")
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > NAME_MAX:
        raise SlackError("invalid_name_maxlength")
    if not _NAME.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")
    if call.workspace.channel_by_name(name) is not None:
        raise SlackError("name_taken")
    channel = ChannelRecord(
        id=call.workspace.new_id("C"),
        name=name,
        is_private=call.flag("is_private"),
        members=[call.caller],
        creator=call.caller,
    )
    call.workspace.channels[channel.id] = channel
    return {"channel": channel.as_json(call.caller)}


def conversations_join(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    _require_conversation(channel)
    if channel.is_archived:
        raise SlackError("is_archived")
    result: dict[str, Any] = {}
    if call.caller in channel.members:
        result["warning"] = "already_in_channel"
        result["response_metadata"] = {"warnings": ["already_in_channel"]}
    else:
        channel.members.append(call.caller)
        _member_joined(call, channel, call.caller)
    result["channel"] = channel.as_json(call.caller)
    return result


def conversations_leave(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    _require_conversation(channel)
    if call.caller not in channel.members:
        return {"not_in_channel": True}
    channel.members.remove(call.caller)
    return {}


def conversations_invite(call: ApiCall) -> dict[str, Any]:
    user_ids = call.id_list("users")
    if not user_ids:
        raise SlackError("no_user")
    channel = call.channel()
    _require_conversation(channel)
    if channel.is_archived:
        raise SlackError("is_archived")
    if call.caller not in channel.members:
        raise SlackError("not_in_channel")
    for user_id in user_ids:
        if user_id not in call.workspace.users:
            raise SlackError("user_not_found")
        if user_id == call.caller:
            raise SlackError("cant_invite_self")
    added = [user_id for user_id in user_ids if user_id not in channel.members]
    if not added:
        raise SlackError("already_in_channel")
    for user_id in dict.fromkeys(added):
        channel.members.append(user_id)
        _member_joined(call, channel, user_id)
    return {"channel": channel.as_json(call.caller)}


def _set_text_field(call: ApiCall, argument: str) -> dict[str, Any]:
    """Set a channel's topic or purpose, which share their rules."""
    channel = call.member_channel()
    if channel.is_archived:
        raise SlackError("is_archived")
    value = call.text(argument)
    if len(value) > TOPIC_MAX:
        raise SlackError("too_long")
    target = channel.topic if argument == "topic" else channel.purpose
    target.update(
        {"value": value, "creator": call.caller, "last_set": int(time.time())}
    )
    return {"channel": channel.as_json(call.caller)}


def conversations_set_topic(call: ApiCall) -> dict[str, Any]:
    return _set_text_field(call, "topic")


def conversations_set_purpose(call: ApiCall) -> dict[str, Any]:
    return _set_text_field(call, "purpose")


def conversations_archive(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    _require_conversation(channel)
    if channel.is_archived:
        raise SlackError("already_archived")
    if call.caller not in channel.members:
        raise SlackError("not_in_channel")
    channel.is_archived = True
    return {}


def conversations_members(call: ApiCall) -> dict[str, Any]:
    channel = call.channel()
    page, next_cursor = paginate(call, channel.members, default=100, maximum=1000)
    return {"members": page, "response_metadata": {"next_cursor": next_cursor}}


def conversations_open(call: ApiCall) -> dict[str, Any]:
    if call.has("channel"):
        channel = call.channel()
        if not channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        return {"channel": {"id": channel.id}}
    user_ids = call.id_list("users")
    if not user_ids:
        raise SlackError("users_list_not_supplied")
    if len(user_ids) > 1:
        # Multi-person direct messages (mpim) are not emulated.
        raise SlackError("not_implemented")
    user = call.workspace.users.get(user_ids[0])
    if user is None:
        raise SlackError("user_not_found")
    if user.is_bot:
        raise SlackError("cannot_dm_bot")
    existed = call.workspace.im_with(user.id) is not None
    channel = call.workspace.open_im(user.id)
    result: dict[str, Any] = {}
    if existed:
        result.update({"no_op": True, "already_open": True})
    if call.flag("return_im"):
        result["channel"] = channel.as_json(call.caller)
    else:
        result["channel"] = {"id": channel.id}
    return result


# History and threads


class _Window:
    """The latest/oldest/inclusive arguments of history and replies."""

    def __init__(self, call: ApiCall) -> None:
        self.latest: int | None = None
        self.oldest: int | None = None
        if call.has("latest"):
            self.latest = parse_ts(call.text("latest"))
            if self.latest is None:
                raise SlackError("invalid_ts_latest")
        if call.has("oldest"):
            self.oldest = parse_ts(call.text("oldest"))
            if self.oldest is None:
                raise SlackError("invalid_ts_oldest")
        self.inclusive = call.flag("inclusive")

    def contains(self, message: MessageRecord) -> bool:
        ts = parse_ts(message.ts) or 0
        if self.latest is not None and not _before(ts, self.latest, self.inclusive):
            return False
        return self.oldest is None or _before(self.oldest, ts, self.inclusive)


def _before(earlier: int, later: int, inclusive: bool) -> bool:
    return earlier < later or (inclusive and earlier == later)


def _encode_next_ts(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_next_ts(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix, _, ts = text.partition(":")
    bound = parse_ts(ts)
    if prefix != "next_ts" or bound is None:
        raise SlackError("invalid_cursor")
    return bound


def conversations_history(call: ApiCall) -> dict[str, Any]:
    channel = call.member_channel()
    window = _Window(call)
    selected = [
        message
        for message in channel.messages
        if not message.deleted
        and (not message.is_reply or message.subtype == "thread_broadcast")
        and window.contains(message)
    ]
    selected.sort(key=lambda message: parse_ts(message.ts) or 0, reverse=True)
    # The cursor names the newest message of the next page, as Slack's
    # "next_ts" cursors do, so that new posts do not shift the pages.
    cursor = call.text("cursor")
    if cursor:
        bound = _decode_next_ts(cursor)
        selected = [m for m in selected if (parse_ts(m.ts) or 0) <= bound]
    limit = call.integer("limit", default=100, maximum=999)
    page, rest = selected[:limit], selected[limit:]
    result: dict[str, Any] = {
        "messages": [channel.message_json(message) for message in page],
        "has_more": bool(rest),
        "pin_count": 0,
        "response_metadata": {
            "next_cursor": _encode_next_ts(rest[0].ts) if rest else ""
        },
    }
    if window.latest is not None:
        result["latest"] = format_ts(window.latest)
    return result


def conversations_replies(call: ApiCall) -> dict[str, Any]:
    channel = call.member_channel()
    if parse_ts(call.text("ts")) is None:
        raise SlackError("thread_not_found")
    parent = channel.find_message(call.text("ts"))
    if parent is None:
        raise SlackError("thread_not_found")
    if parent.is_reply:
        # A reply's ts selects the whole thread, starting at its parent.
        parent = channel.find_message(parent.thread_ts or "") or parent
    window = _Window(call)
    replies = [reply for reply in channel.replies(parent.ts) if window.contains(reply)]
    thread = [parent, *replies]
    page, next_cursor = paginate(call, thread, default=1000, maximum=1000)
    return {
        "messages": [channel.message_json(message) for message in page],
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


METHODS: dict[str, Handler] = {
    "conversations.archive": conversations_archive,
    "conversations.create": conversations_create,
    "conversations.history": conversations_history,
    "conversations.info": conversations_info,
    "conversations.invite": conversations_invite,
    "conversations.join": conversations_join,
    "conversations.leave": conversations_leave,
    "conversations.list": conversations_list,
    "conversations.members": conversations_members,
    "conversations.open": conversations_open,
    "conversations.replies": conversations_replies,
    "conversations.setPurpose": conversations_set_purpose,
    "conversations.setTopic": conversations_set_topic,
    "users.conversations": users_conversations,
}
