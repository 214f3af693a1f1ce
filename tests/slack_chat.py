"""Drive the incident bot on the IncidentSlack backend as people in Slack would.

SlackChat has the interface of tests/chat.py's Chat, so the same replay runs
through Errbot's test backend or through the Slack emulator, Socket Mode and
the real backend. Each person is a user in the emulator. Messages go to a
general channel until the first `incident declare`, then to the incident
channel that the bot creates, and everybody is a member of both.

The driver sends the next event only once the bot has finished handling the
previous one, as people typing at human pace would. To know when that is, it
observes the bot's callback and command methods (see BotProgress).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from errbot.backends.base import REACTION_ADDED
from slack_sdk import WebClient

from incidentbot import slack_text
from incidentbot.chat_events import message_ts, slack_event
from sandbox.slack import SlackSandbox
from tests.chat import point_links_at, slack_ts, slack_wire

GENERAL = "C0GENERAL1"
INCIDENT_CHANNEL = re.compile(r"inc-[0-9]+")
DECLARE = "incident declare"
# An @name typed in text, outside words and e-mail addresses.
MENTION = re.compile(r"(?<![\w.@/])@([A-Za-z0-9][A-Za-z0-9_-]*)")
# Slack markup (<url>, <@U…>) in wire text, which mentions must not touch.
MARKUP = re.compile(r"(<[^<>]*>)")
# Seconds to wait for the bot to handle one event. The limit is generous
# because the slowest command, declare, makes several GitLab and Slack calls.
EVENT_TIMEOUT = 30.0


class BotProgress:
    """The Slack events a running bot has finished handling, by message.

    It wraps methods of errbot 6.2.1's ErrBot on one bot instance, which the
    Slack backend and Errbot call through the instance. After callback_message
    returns, plugins have seen the message, and after _process_command it is
    known to be a command. Then _execute_and_send has run the command and
    posted its reply, unless _process_command_filters dropped it.
    callback_reaction returns once plugins have handled a reaction. The
    wrappers only record what finished, and return what the original returned.
    """

    def __init__(self, bot: Any) -> None:
        self._finished: set[tuple[Any, ...]] = set()
        self._changed = threading.Condition()
        self._record_after(bot, "callback_message", "message")
        self._record_after(bot, "_process_command", "command")
        self._record_after(bot, "_execute_and_send", "executed")
        self._record_dropped(bot)
        self._record_reactions(bot)

    def _record_after(self, bot: Any, method: str, stage: str) -> None:
        original = getattr(bot, method)

        def observed(*args: Any, **kwargs: Any) -> Any:
            try:
                return original(*args, **kwargs)
            finally:
                msg = kwargs["msg"] if "msg" in kwargs else args[0]
                self._finish(message_key(stage, msg))

        setattr(bot, method, observed)

    def _record_dropped(self, bot: Any) -> None:
        original = bot._process_command_filters

        def observed(msg: Any, cmd: Any, args: Any, dry_run: bool = False) -> Any:
            result = original(msg, cmd, args, dry_run)
            if not dry_run and result[0] is None:
                self._finish(message_key("dropped", msg))
            return result

        bot._process_command_filters = observed

    def _record_reactions(self, bot: Any) -> None:
        original = bot.callback_reaction

        def observed(reaction: Any) -> Any:
            try:
                return original(reaction)
            finally:
                self._finish(reaction_key(reaction))

        bot.callback_reaction = observed

    def _finish(self, key: tuple[Any, ...]) -> None:
        with self._changed:
            self._finished.add(key)
            self._changed.notify_all()

    def finished(self, key: tuple[Any, ...]) -> bool:
        with self._changed:
            return key in self._finished

    def wait_for(self, keys: Iterable[tuple[Any, ...]], what: str) -> None:
        """Wait until one of the keys is finished, or raise AssertionError."""
        wanted = set(keys)
        with self._changed:
            done = self._changed.wait_for(
                lambda: bool(wanted & self._finished), timeout=EVENT_TIMEOUT
            )
        if not done:
            raise AssertionError(
                f"timed out after {EVENT_TIMEOUT} s waiting for the bot to handle "
                f"{what}. Look for errors in errbot.log in the bot's data directory."
            )


def message_key(stage: str, msg: Any) -> tuple[str, str | None, str | None]:
    """Return the key of a message's handling stage: channel and Slack ts."""
    channel = slack_event(msg).get("channel")
    return stage, str(channel) if channel else None, message_ts(msg)


def reaction_key(reaction: Any) -> tuple[str, ...]:
    item = reaction.reacted_to if isinstance(reaction.reacted_to, dict) else {}
    action = "added" if reaction.action == REACTION_ADDED else "removed"
    return (
        "reaction",
        str(item.get("channel")),
        str(item.get("ts")),
        str(reaction.reaction_name),
        str(getattr(reaction.reactor, "userid", "")),
        action,
    )


def user_id_for(name: str) -> str:
    """Return a Slack user id made from a name: alice -> U0ALICE001.

    The shape matches the ids of tests/slack_bot.py, so its alice is the
    replays' alice.
    """
    letters = re.sub(r"[^A-Z0-9]", "", name.upper())
    return f"U0{letters.ljust(7, '0')[:7]}1"


class SlackChat:
    """People talking in Slack to the bot, one channel at a time.

    room is the channel the next message goes to: GENERAL, then the incident
    channel after the first declare. A driver for a restarted bot continues
    the same conversation when it gets the previous driver's room.
    gitlab_url, when given, is where links on tests/chat.py's
    REPLAY_GITLAB_URL are sent to.
    """

    def __init__(
        self,
        slack: SlackSandbox,
        bot: Any,
        people: Iterable[str] = (),
        *,
        room: str = GENERAL,
        gitlab_url: str | None = None,
    ) -> None:
        self.slack = slack
        self.bot = bot
        self.gitlab_url = gitlab_url
        self.web = WebClient(token=slack.bot_token, base_url=slack.api_url)
        self.now = datetime(2025, 1, 1, tzinfo=UTC)
        self.room = room
        self.user_ids: dict[str, str] = {}
        self._progress = BotProgress(bot)
        self.plugin.clock = lambda: self.now
        try:
            slack.channel(GENERAL)
        except KeyError:
            slack.add_channel(GENERAL, "general", members=[slack.bot_user_id])
        for name in people:
            self.user_id(name)

    @property
    def plugin(self) -> Any:
        return self.bot.plugin_manager.get_plugin_obj_by_name("Incident")

    def at(self, when: datetime | str) -> None:
        """Set the bot's clock, as if the next event happened then."""
        if isinstance(when, str):
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        self.now = when

    # People

    def user_id(self, name: str) -> str:
        """Return a person's Slack user id, adding them to Slack and the channels."""
        known = self.user_ids.get(name)
        if known is not None:
            return known
        user_id = user_id_for(name)
        try:
            self.slack.add_user(user_id, name)
        except ValueError:
            # Another fixture may have added this person already.
            existing = self.web.users_info(user=user_id)["user"]["name"]
            if existing != name:
                raise ValueError(
                    f"person {name!r} maps to Slack user {user_id}, which is "
                    f"{existing!r}; give one of them another name"
                ) from None
        self.user_ids[name] = user_id
        for channel in dict.fromkeys((GENERAL, self.room)):
            self._invite(channel, [user_id])
        return user_id

    def _invite(self, channel: str, user_ids: Iterable[str]) -> None:
        # The emulator issues no user tokens, so the bot's token invites
        # people, as any member of the channel could.
        members = set(self.web.conversations_members(channel=channel)["members"])
        missing = [user_id for user_id in user_ids if user_id not in members]
        if missing:
            self.web.conversations_invite(channel=channel, users=",".join(missing))

    # Messages

    def wire(self, text: str) -> str:
        """Return typed text as Slack sends it, with @name of known people as <@U…>."""
        pieces = MARKUP.split(slack_wire(point_links_at(text, self.gitlab_url)))
        for index in range(0, len(pieces), 2):
            pieces[index] = MENTION.sub(self._mention, pieces[index])
        return "".join(pieces)

    def _mention(self, match: re.Match[str]) -> str:
        user_id = self.user_ids.get(match.group(1))
        return f"<@{user_id}>" if user_id else match.group(0)

    def send(
        self, user: str, text: str, *, ts: str | None = None, wire: bool = True
    ) -> str:
        """Post a message as `user`, wait until the bot has seen it, return its ts.

        ts defaults to a free timestamp at the clock's current time.
        """
        user_id = self.user_id(user)
        body = self.wire(text) if wire else text
        posted = self.slack.post_as(
            user_id, self.room, body, ts=ts or self._free_ts(self.room)
        )
        self._progress.wait_for(
            [("message", self.room, posted)], f"message {posted} in {self.room}"
        )
        return posted

    def _free_ts(self, channel: str) -> str:
        taken = {message["ts"] for message in self.slack.messages(channel)}
        sequence = 1
        while slack_ts(self.now, sequence) in taken:
            sequence += 1
        return slack_ts(self.now, sequence)

    def command(
        self, user: str, text: str, *, ts: str | None = None, wire: bool = True
    ) -> str:
        """Run `!text` as `user` and return the bot's reply (all parts joined).

        The reply is every post of the bot that follows the command in its
        channel once the command has run, with the text each has now, so later
        edits of a post show. Ephemeral messages to `user` count too. A declare
        in the general channel moves the conversation to the incident channel
        it creates, and the bot's posts there count as its reply as well.
        """
        channel = self.room
        declaring = channel == GENERAL and text.startswith(DECLARE)
        channels_before = self._incident_channels() if declaring else set()
        seen = len(self.slack.messages(channel))
        private_seen = len(self.slack.ephemeral_messages(channel))

        posted = self.send(user, "!" + text, ts=ts, wire=wire)
        if self._progress.finished(("command", channel, posted)):
            self._progress.wait_for(
                [("executed", channel, posted), ("dropped", channel, posted)],
                f"command {text!r} ({posted} in {channel})",
            )

        parts = self._bot_posts_after(channel, seen)
        parts += [
            message["text"]
            for message in self.slack.ephemeral_messages(channel)[private_seen:]
            if message["user"] == self.user_ids[user]
        ]
        if declaring:
            parts += self._enter_incident_channel(channels_before, "\n".join(parts))
        return "\n".join(parts)

    def _bot_posts_after(self, channel: str, seen: int) -> list[str]:
        return [
            slack_text.message_text(message)
            for message in self.slack.messages(channel)[seen:]
            if message["user"] == self.slack.bot_user_id and not message["deleted"]
        ]

    def _incident_channels(self) -> set[str]:
        listing = self.web.conversations_list(
            types="public_channel,private_channel", limit=1000
        )
        return {
            str(channel["id"])
            for channel in listing["channels"]
            if INCIDENT_CHANNEL.fullmatch(channel["name"])
        }

    def _enter_incident_channel(self, before: set[str], reply: str) -> list[str]:
        """Move everybody into the channel the declare created; return its posts."""
        # The bot may create the channel after its reply, so it gets time.
        deadline = time.monotonic() + EVENT_TIMEOUT
        created = self._incident_channels() - before
        while not created and time.monotonic() < deadline:
            time.sleep(0.05)
            created = self._incident_channels() - before
        if len(created) != 1:
            raise AssertionError(
                f"declaring should create one channel named inc-<iid>, but it "
                f"created {sorted(created)}; the bot replied: {reply!r}"
            )
        self.room = created.pop()
        self._invite(self.room, self.user_ids.values())
        return self._bot_posts_after(self.room, 0)

    # Reactions

    def react(self, user: str, emoji: str, ts: str, *, added: bool = True) -> None:
        """Add or remove a reaction as `user`, and wait until the bot handled it."""
        user_id = self.user_id(user)
        channel = self._channel_of(ts)
        self.slack.react_as(user_id, channel, ts, emoji, added=added)
        action = "added" if added else "removed"
        self._progress.wait_for(
            [("reaction", channel, ts, emoji, user_id, action)],
            f":{emoji}: {action} by {user} on {ts} in {channel}",
        )

    def _channel_of(self, ts: str) -> str:
        for channel in dict.fromkeys((self.room, GENERAL)):
            if any(message["ts"] == ts for message in self.slack.messages(channel)):
                return channel
        raise KeyError(f"no message {ts} in {self.room} or {GENERAL} to react to")
