"""Workspace state of the Slack sandbox: users, channels, messages, user groups.

The records render themselves in the JSON shapes of Slack's Web API, so that
the method handlers only select and check.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

TEAM_ID = "T0TEAM0001"
TEAM_NAME = "Sandbox"
TEAM_DOMAIN = "sandbox"
APP_ID = "A0APP00001"
BOT_USER_ID = "U0BOT00001"
BOT_ID = "B0BOT00001"

# A Slack ts is seconds since the epoch with six decimals, unique per channel.
_TS = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,6})?")
_MICROSECONDS = 1_000_000


def parse_ts(text: Any) -> int | None:
    """Return a Slack timestamp in microseconds, or None when it is malformed."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not _TS.fullmatch(text.strip()):
        return None
    try:
        return int(Decimal(text.strip()) * _MICROSECONDS)
    except InvalidOperation:
        return None


def format_ts(microseconds: int) -> str:
    seconds, fraction = divmod(microseconds, _MICROSECONDS)
    return f"{seconds}.{fraction:06d}"


class Clock:
    """Issue unique, increasing message timestamps that follow the wall clock.

    Two messages in the same microsecond, or a clock frozen by a test, still
    get distinct timestamps because each one is at least 1 µs after the last.
    """

    def __init__(self) -> None:
        self._last = 0

    def next_ts(self) -> str:
        now = int(time.time() * _MICROSECONDS)
        self._last = max(now, self._last + 1)
        return format_ts(self._last)


@dataclass
class UserRecord:
    id: str
    name: str
    real_name: str
    is_bot: bool = False
    bot_id: str | None = None
    email: str | None = None
    updated: int = field(default_factory=lambda: int(time.time()))

    def as_json(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "display_name_normalized": self.name,
            "team": TEAM_ID,
        }
        if self.email is not None:
            profile["email"] = self.email
        if self.bot_id is not None:
            profile["bot_id"] = self.bot_id
            profile["api_app_id"] = APP_ID
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": self.updated,
        }

    def bot_json(self) -> dict[str, Any]:
        """Return the object of bots.info for a bot user."""
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.name,
            "updated": self.updated,
            "app_id": APP_ID,
            "user_id": self.id,
            "icons": {},
        }


@dataclass
class MessageRecord:
    """One message as stored, with what the poster sent and what changed later."""

    ts: str
    channel: str
    user: str | None
    text: str
    bot_id: str | None = None
    thread_ts: str | None = None
    subtype: str | None = None
    blocks: list[Any] | None = None
    attachments: list[Any] | None = None
    client_msg_id: str | None = None
    edited: dict[str, str] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    reactions: list[dict[str, Any]] = field(default_factory=list)
    # Delivery options exactly as the client sent them (link_names,
    # unfurl_links, ...), or as absent when it did not.
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_json(self, replies: list[MessageRecord] | None = None) -> dict[str, Any]:
        """Return the message object that the Web API and events carry.

        replies are the thread's replies when this message is a thread
        parent. They set reply_count and the other thread fields.
        """
        message: dict[str, Any] = {"type": "message"}
        if self.subtype is not None:
            message["subtype"] = self.subtype
        message["text"] = self.text
        if self.user is not None:
            message["user"] = self.user
        if self.bot_id is not None:
            message["bot_id"] = self.bot_id
            message["app_id"] = APP_ID
        message["ts"] = self.ts
        message["team"] = TEAM_ID
        if self.client_msg_id is not None:
            message["client_msg_id"] = self.client_msg_id
        if self.blocks is not None:
            message["blocks"] = self.blocks
        if self.attachments is not None:
            message["attachments"] = self.attachments
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
        if self.edited is not None:
            message["edited"] = dict(self.edited)
        if self.reactions:
            message["reactions"] = [
                {**reaction, "users": list(reaction["users"])}
                for reaction in self.reactions
            ]
        if replies:
            users = list(dict.fromkeys(reply.user for reply in replies if reply.user))
            message["thread_ts"] = self.ts
            message["reply_count"] = len(replies)
            message["reply_users"] = users
            message["reply_users_count"] = len(users)
            message["latest_reply"] = replies[-1].ts
        message.update(self.extra)
        return message

    def snapshot(self) -> dict[str, Any]:
        """Return a copy of what was stored, for tests."""
        return {
            "ts": self.ts,
            "channel": self.channel,
            "user": self.user,
            "bot_id": self.bot_id,
            "text": self.text,
            "thread_ts": self.thread_ts,
            "subtype": self.subtype,
            "blocks": self.blocks,
            "attachments": self.attachments,
            "edits": [dict(edit) for edit in self.edits],
            "reactions": [
                {**reaction, "users": list(reaction["users"])}
                for reaction in self.reactions
            ],
            "deleted": self.deleted,
            **self.options,
        }


@dataclass
class ChannelRecord:
    """A public or private channel, or a direct message (is_im)."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    im_user: str | None = None
    members: list[str] = field(default_factory=list)
    creator: str = BOT_USER_ID
    created: int = field(default_factory=lambda: int(time.time()))
    is_archived: bool = False
    topic: dict[str, Any] = field(
        default_factory=lambda: {"value": "", "creator": "", "last_set": 0}
    )
    purpose: dict[str, Any] = field(
        default_factory=lambda: {"value": "", "creator": "", "last_set": 0}
    )
    messages: list[MessageRecord] = field(default_factory=list)
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    bookmarks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def channel_type(self) -> str:
        """Return the channel_type that message events carry."""
        if self.is_im:
            return "im"
        return "group" if self.is_private else "channel"

    def find_message(self, ts: str) -> MessageRecord | None:
        for message in self.messages:
            if message.ts == ts and not message.deleted:
                return message
        return None

    def replies(self, parent_ts: str) -> list[MessageRecord]:
        return [
            message
            for message in self.messages
            if message.thread_ts == parent_ts
            and message.ts != parent_ts
            and not message.deleted
        ]

    def message_json(self, message: MessageRecord) -> dict[str, Any]:
        replies = None if message.is_reply else self.replies(message.ts)
        data = message.as_json(replies)
        if message.is_reply:
            parent = self.find_message(message.thread_ts or "")
            if parent is not None and parent.user is not None:
                data["parent_user_id"] = parent.user
        return data

    def as_json(self, viewer: str = BOT_USER_ID) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.im_user,
                "is_user_deleted": False,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "created": self.created,
            "creator": self.creator,
            "is_archived": self.is_archived,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": TEAM_ID,
            "is_member": viewer in self.members,
            "topic": dict(self.topic),
            "purpose": dict(self.purpose),
            "previous_names": [],
            "num_members": len(self.members),
        }


@dataclass
class UsergroupRecord:
    id: str
    handle: str
    name: str
    users: list[str] = field(default_factory=list)
    description: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def as_json(self, *, include_users: bool, include_count: bool) -> dict[str, Any]:
        group: dict[str, Any] = {
            "id": self.id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "is_subteam": True,
            "name": self.name,
            "description": self.description,
            "handle": self.handle,
            "is_external": False,
            "date_create": self.created,
            "date_update": self.created,
            "date_delete": 0,
            "auto_type": None,
            "created_by": BOT_USER_ID,
            "updated_by": BOT_USER_ID,
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
        }
        if include_users:
            group["users"] = list(self.users)
        if include_count:
            group["user_count"] = len(self.users)
        return group


class Workspace:
    """All state of one sandbox workspace. Callers hold the sandbox's lock."""

    def __init__(self, bot_name: str) -> None:
        self.clock = Clock()
        self.users: dict[str, UserRecord] = {}
        self.channels: dict[str, ChannelRecord] = {}
        self.usergroups: dict[str, UsergroupRecord] = {}
        self._next_number = 1
        self.bot = UserRecord(
            BOT_USER_ID, bot_name, bot_name, is_bot=True, bot_id=BOT_ID
        )
        self.users[BOT_USER_ID] = self.bot

    def new_id(self, prefix: str) -> str:
        """Return an unused ID such as C0000000012, in Slack's upper-case form."""
        used = set(self.users) | set(self.channels) | set(self.usergroups)
        while True:
            candidate = f"{prefix}{self._next_number:010d}"
            self._next_number += 1
            if candidate not in used:
                return candidate

    def user_by_bot_id(self, bot_id: str) -> UserRecord | None:
        for user in self.users.values():
            if user.bot_id == bot_id:
                return user
        return None

    def channel_by_name(self, name: str) -> ChannelRecord | None:
        for channel in self.channels.values():
            if not channel.is_im and channel.name == name:
                return channel
        return None

    def im_with(self, user_id: str) -> ChannelRecord | None:
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        return None

    def open_im(self, user_id: str) -> ChannelRecord:
        """Return the bot's direct message channel with a user, creating it."""
        channel = self.im_with(user_id)
        if channel is None:
            channel_id = self.new_id("D")
            channel = ChannelRecord(
                id=channel_id,
                name=channel_id,
                is_private=True,
                is_im=True,
                im_user=user_id,
                members=[BOT_USER_ID, user_id],
                creator=user_id,
            )
            self.channels[channel_id] = channel
        return channel
