"""Arguments of one Slack Web API call, read the way Slack reads them.

Form bodies carry every value as a string and JSON bodies carry native
values, so the readers here accept both: "true", "1" and true are all true.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sandbox.slack_store import BOT_USER_ID, ChannelRecord, Workspace

T = TypeVar("T")

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")


class SlackError(Exception):
    """A failed call, returned as HTTP 200 with {"ok": false, "error": ...}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class ApiCall:
    """The arguments of one call and the workspace it acts on.

    The caller is always the bot user, because the sandbox accepts one bot
    token and no user tokens.
    """

    workspace: Workspace
    arguments: dict[str, Any]
    base_url: str
    caller: str = BOT_USER_ID
    # Events Slack would send the app because of this call, such as
    # member_joined_channel after conversations.invite.
    events: list[dict[str, Any]] = field(default_factory=list)

    def text(self, name: str, default: str = "") -> str:
        value = self.arguments.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else str(value)

    def has(self, name: str) -> bool:
        return self.arguments.get(name) not in (None, "")

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.arguments.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SlackError("invalid_arguments")

    def integer(self, name: str, *, default: int, maximum: int) -> int:
        """Return a count such as limit, using default for 0 and capping it."""
        value = self.arguments.get(name)
        if value in (None, ""):
            return default
        try:
            number = int(str(value))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if number <= 0:
            return default
        return min(number, maximum)

    def json_list(self, name: str, error: str) -> list[Any] | None:
        """Return a list sent natively or as a JSON string, such as blocks."""
        value = self.arguments.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        if not isinstance(value, list):
            raise SlackError(error)
        return value

    def id_list(self, name: str) -> list[str]:
        """Return IDs sent as "U1,U2" or as a JSON list."""
        value = self.arguments.get(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

    # Lookups shared by the method handlers

    def channel(self, name: str = "channel") -> ChannelRecord:
        """Return the channel named by an ID argument, as the bot may see it.

        A private channel or direct message that the bot is not in looks
        missing, as it does on Slack.
        """
        channel = self.workspace.channels.get(self.text(name))
        if channel is None:
            raise SlackError("channel_not_found")
        if channel.is_private and self.caller not in channel.members:
            raise SlackError("channel_not_found")
        return channel

    def member_channel(self, name: str = "channel") -> ChannelRecord:
        """Return the channel like channel(), requiring the bot to be in it."""
        channel = self.channel(name)
        if self.caller not in channel.members:
            raise SlackError("not_in_channel")
        return channel


def paginate(
    call: ApiCall, items: Sequence[T], *, default: int, maximum: int
) -> tuple[list[T], str]:
    """Return one page of items and the next_cursor, "" on the last page.

    Cursors are opaque to clients, as on Slack. Here they encode an offset.
    """
    limit = call.integer("limit", default=default, maximum=maximum)
    start = 0
    cursor = call.text("cursor")
    if cursor:
        start = _decode_cursor(cursor)
    page = list(items[start : start + limit])
    end = start + len(page)
    next_cursor = _encode_cursor(end) if end < len(items) else ""
    return page, next_cursor


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix, _, number = text.partition(":")
    if prefix != "offset" or not number.isdigit():
        raise SlackError("invalid_cursor")
    return int(number)


Handler = Callable[[ApiCall], dict[str, Any]]
