"""Drive the real plugins in Errbot's test backend as people in a channel would.

Messages are built the way the Slack backend delivers them: the text in
Slack's wire format (URLs wrapped as <url>, &, < and > escaped) and the
message's Slack timestamp in the extras, so the plugins see what they would
see in production.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from queue import Empty
from typing import Any

from errbot.backends.base import REACTION_ADDED, REACTION_REMOVED, Message, Reaction
from errbot.backends.test import TestBot, TestOccupant, TestPerson, TestRoom

URL = re.compile(r"https?://[^\s<>]+")
# The GitLab that the recorded replays' links name. No server runs there: a
# driver given the sandbox GitLab's URL sends these links with its base URL
# instead, which is test data plumbing so the bot finds the issues pasted.
REPLAY_GITLAB_URL = "https://gitlab.example.com"


def slack_wire(text: str) -> str:
    """Return typed text as Slack delivers it: entities escaped, URLs wrapped."""
    escaped = html.escape(text, quote=False)
    return URL.sub(lambda match: f"<{match.group(0)}>", escaped)


def point_links_at(text: str, gitlab_url: str | None) -> str:
    """Return text with links on REPLAY_GITLAB_URL moved to gitlab_url, if given."""
    if gitlab_url is None:
        return text
    return text.replace(f"{REPLAY_GITLAB_URL}/", f"{gitlab_url.rstrip('/')}/")


def slack_ts(at: datetime, sequence: int) -> str:
    """Return a Slack message timestamp for a time, unique per sequence number."""
    return f"{int(at.timestamp())}.{sequence:06d}"


class Chat:
    """One channel of the test backend, with people who talk and react.

    gitlab_url, when given, is where links on REPLAY_GITLAB_URL are sent to.
    """

    def __init__(
        self,
        testbot: TestBot,
        channel: str = "C0INC00042",
        *,
        gitlab_url: str | None = None,
    ) -> None:
        self.testbot = testbot
        self.gitlab_url = gitlab_url
        self.room = TestRoom(channel, bot=testbot.bot)
        self.now = datetime(2025, 1, 1, tzinfo=UTC)
        self._sequence = 0
        self.plugin.clock = lambda: self.now

    @property
    def plugin(self) -> Any:
        return self.testbot.bot.plugin_manager.get_plugin_obj_by_name("Incident")

    def at(self, when: datetime | str) -> None:
        """Set the bot's clock, as if the next event happened then."""
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        self.now = when

    def send(
        self,
        user: str,
        text: str,
        *,
        ts: str | None = None,
        wire: bool = True,
        event: dict[str, Any] | None = None,
    ) -> str:
        """Post a message as `user` and return its Slack timestamp.

        `event` is the raw Slack event to attach, for messages whose content
        sits outside `text` (files, attachments of apps).
        """
        if ts is None:
            self._sequence += 1
            ts = slack_ts(self.now, self._sequence)
        text = point_links_at(text, self.gitlab_url)
        body = slack_wire(text) if wire else text
        message = Message(
            body,
            frm=TestOccupant(user, self.room),
            to=self.room,
            extras={"ts": ts, "slack_event": {**event, "ts": ts}}
            if event
            else {"ts": ts},
        )
        self.testbot.bot.callback_message(message)
        return ts

    def command(
        self, user: str, text: str, *, wire: bool = True, ts: str | None = None
    ) -> str:
        """Run `!text` as `user` and return the bot's reply (all parts joined)."""
        self.send(user, "!" + text, ts=ts, wire=wire)
        return self.replies()

    def replies(self, first_timeout: float = 15.0) -> str:
        parts = [self.testbot.pop_message(timeout=first_timeout)]
        while True:
            try:
                parts.append(self.testbot.pop_message(timeout=0.3))
            except Empty:
                return "\n".join(parts)

    def no_reply(self, timeout: float = 0.5) -> bool:
        try:
            self.testbot.pop_message(timeout=timeout)
        except Empty:
            return True
        return False

    def react(
        self,
        user: str,
        emoji: str,
        ts: str,
        *,
        added: bool = True,
        item: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> None:
        """Add or remove a reaction as `user` on the message with timestamp `ts`."""
        reacted_to = item or {"type": "message", "channel": str(self.room), "ts": ts}
        reaction = Reaction(
            reactor=TestOccupant(user, self.room),
            reacted_to_owner=TestPerson(owner) if owner else None,
            action=REACTION_ADDED if added else REACTION_REMOVED,
            timestamp=ts,
            reaction_name=emoji,
            reacted_to=reacted_to,
        )
        self.testbot.bot.callback_reaction(reaction)


def visible(text: str) -> str:
    """Return text as a reader sees it: Slack escaping's word joiners are invisible."""
    return text.replace("\u2060", "")


def posted(chat: Chat) -> list[str]:
    """Return every message the bot posted since the last read, as people see them."""
    messages: list[str] = []
    while True:
        try:
            messages.append(visible(chat.testbot.pop_message(timeout=0.3)))
        except Empty:
            return messages
