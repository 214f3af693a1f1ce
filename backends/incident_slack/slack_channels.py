"""Incident channel calls to Slack: create, invite, topic, bookmark and card posts.

Each function takes the backend's WebClient. A call Slack rejects, or one
that cannot reach Slack, raises errbot's RoomError with a message that names
what failed and Slack's error code.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from errbot.backends.base import RoomError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import WebClient

# Slack error codes of an invitation after which the person is in the channel.
INVITED_ALREADY = ("already_in_channel", "cant_invite_self")


class SlackCall:
    """Context for one Web API call that turns its failure into RoomError.

    Slack error codes listed in `accept` are not failures: the block ends
    quietly and `accepted` holds the code.
    """

    def __init__(self, action: str, accept: tuple[str, ...] = ()) -> None:
        self.action = action
        self.accept = accept
        self.accepted: str | None = None

    def __enter__(self) -> SlackCall:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(error, SlackApiError):
            code = str(error.response.get("error") or "an unknown error")
            if code in self.accept:
                self.accepted = code
                return True
            raise RoomError(
                f"failed to {self.action}: Slack returned {code}"
            ) from error
        if isinstance(error, SlackClientError | OSError):
            raise RoomError(f"failed to {self.action}: {error}") from error
        return False


def create_channel(client: WebClient, name: str, *, private: bool) -> str | None:
    """Create a channel and return its id, or None when the name is taken.

    Slack reserves the names of archived channels too, so None also means
    that an old channel of that name exists.
    """
    call = SlackCall(f"create channel #{name}", accept=("name_taken",))
    with call:
        response = client.conversations_create(name=name, is_private=private)
    if call.accepted:
        return None
    return str(response["channel"]["id"])


def invite(client: WebClient, channel_id: str, user: str) -> None:
    """Invite a user, given by id (U123) or as "@name", into a channel.

    Someone already in the channel counts as invited.
    """
    user_id = user_id_for(client, user.removeprefix("@")) if user[:1] == "@" else user
    with SlackCall(f"invite {user} into {channel_id}", accept=INVITED_ALREADY):
        client.conversations_invite(channel=channel_id, users=user_id)


def user_id_for(client: WebClient, name: str) -> str:
    """Return the id of the one active user whose user name or display name is `name`.

    Raises RoomError when no user or more than one has that name.
    """
    matches: list[str] = []
    cursor: str | None = None
    while True:
        with SlackCall(f"look up the Slack user @{name}"):
            page = client.users_list(cursor=cursor, limit=200)
        for member in page.get("members") or []:
            if not member.get("deleted") and name in _names(member):
                matches.append(str(member["id"]))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    if not matches:
        raise RoomError(f"no Slack user is named @{name}")
    if len(matches) > 1:
        raise RoomError(
            f"{len(matches)} Slack users are named @{name}; mention the person "
            "with Slack's @ autocomplete so that the bot gets their user id"
        )
    return matches[0]


def _names(member: dict[str, Any]) -> set[str]:
    profile = member.get("profile") or {}
    names = {member.get("name"), profile.get("display_name")}
    return {str(name) for name in names if name}


def set_topic(client: WebClient, channel_id: str, text: str) -> None:
    with SlackCall(f"set the topic of {channel_id}"):
        client.conversations_setTopic(channel=channel_id, topic=text)


def add_bookmark(client: WebClient, channel_id: str, title: str, url: str) -> None:
    with SlackCall(f"bookmark {url} in {channel_id}"):
        client.bookmarks_add(channel_id=channel_id, title=title, type="link", link=url)


def post_text(client: WebClient, channel_id: str, text: str) -> str:
    """Post text as it is, with no mentions or previews, and return its ts.

    The text must already be escaped for Slack. Unlike the backend's
    send_message, it does not pass through the Markdown converter, which
    turns `&lt;` back into `<`.
    """
    with SlackCall(f"post to {channel_id}"):
        response = client.chat_postMessage(
            channel=channel_id,
            text=text,
            link_names=False,
            unfurl_links=False,
            unfurl_media=False,
        )
    return str(response["ts"])


def edit_text(client: WebClient, channel_id: str, ts: str, text: str) -> bool:
    """Replace the text of the bot's message; return False if it was deleted."""
    call = SlackCall(
        f"update message {ts} in {channel_id}", accept=("message_not_found",)
    )
    with call:
        client.chat_update(channel=channel_id, ts=ts, text=text, link_names=False)
    return call.accepted is None
