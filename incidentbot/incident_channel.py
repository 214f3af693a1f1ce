"""An incident's own chat channel: creating it, inviting people, its topic and card.

The chat backend provides the channel operations as plain methods:

    create_channel(name, private) -> channel id, or None when the name is taken
    invite_to_channel(channel_id, user)   user is a user id or "@name"
    set_topic(channel_id, text)
    add_bookmark(channel_id, title, url)
    post_message(channel_id, text) -> the message's ts
    edit_message(channel_id, ts, text) -> False when the message is gone

Each is used only when the backend has it, so on a backend without them
(Errbot's Text and test backends) this class does nothing. Every call runs
after the GitLab work of a command has been stored. A failure is logged and
returned as a short note for the reply, and never undoes that work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from incidentbot.channel_text import (
    TOPIC_MAX,
    card_text,
    channel_name,
    fit,
    name_variants,
    topic_text,
)
from incidentbot.model import Incident
from incidentbot.store import IncidentStore

log = logging.getLogger(__name__)

# Names tried for a new channel, the plain name first: inc-12, inc-12-2, ...
# Each try is one Slack call, and archived channels keep their names, so a
# workspace that reuses issue numbers may need a few.
MAX_NAME_ATTEMPTS = 20
# A Slack user mention in wire text: <@U123> or <@U123|label>.
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


class ChannelError(Exception):
    """The incident channel could not be created."""


@dataclass(frozen=True)
class OpenedChannel:
    """A channel created for an incident."""

    id: str
    name: str
    # Names that were taken, in the order tried, before `name` was free.
    taken: tuple[str, ...] = ()
    # Sentences about what did not work after creating it.
    notes: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """Return the chat identifier to send to, as the Slack backend reads it."""
        return f"<#{self.id}|{self.name}>"


class IncidentChannels:
    """Keeps each incident's own chat channel in step with the incident."""

    def __init__(
        self, store: IncidentStore, chat: Any, escape: Callable[[str], str]
    ) -> None:
        self.store = store
        self.chat = chat
        self.escape = escape

    def open(self, incident: Incident, prefix: str, member: str) -> OpenedChannel:
        """Create a channel with a name not used before, and invite `member`.

        `member` is the declarer's user id, or "@name" when the chat service
        gave none. The channel is private when the incident is confidential.
        Slack returns name_taken for a name any channel has, archived ones
        included. Such a channel is never reused, so the next variant is
        tried. Raises ChannelError when no channel could be created.
        """
        create = self._method("create_channel")
        if create is None:
            raise ChannelError("the chat backend cannot create channels")
        base = channel_name(prefix, incident.iid)
        taken: list[str] = []
        for name in name_variants(base, MAX_NAME_ATTEMPTS):
            try:
                channel_id = create(name, private=incident.confidential)
            except Exception as error:
                log.warning("no channel for %s: %s", incident.ref, error)
                raise ChannelError(str(error)) from error
            if channel_id is not None:
                break
            log.info("channel name #%s is taken; trying the next one", name)
            taken.append(name)
        else:
            raise ChannelError(
                f"#{base} and the next {MAX_NAME_ATTEMPTS - 1} names after it are "
                "taken; archive or rename old channels, or change channel_prefix"
            )
        log.info("created channel #%s (%s) for %s", name, channel_id, incident.ref)
        notes = self._invite(str(channel_id), member, incident.declared_by)
        return OpenedChannel(str(channel_id), name, tuple(taken), tuple(notes))

    def set_up(self, ref: str) -> list[str]:
        """Set the new channel's topic, bookmark the issue and post the status card.

        Returns a sentence for each step that failed.
        """
        incident = self.store.get(ref)
        if incident is None or not runs_in_created_channel(incident):
            return []
        notes = self._set_topic(incident)
        add_bookmark = self._method("add_bookmark")
        if add_bookmark is not None:
            try:
                add_bookmark(
                    incident.channel, f"Incident issue {incident.ref}", incident.web_url
                )
            except Exception as error:
                log.warning("failed to bookmark %s: %s", incident.ref, error)
                notes.append(f"The issue was not bookmarked in the channel: {error}.")
        return notes + self._show_card(ref)

    def refresh(self, ref: str, *, topic: bool) -> list[str]:
        """Bring the status card, and with `topic` the channel topic, up to date.

        Returns a sentence for each step that failed.
        """
        incident = self.store.get(ref)
        if incident is None or not runs_in_created_channel(incident):
            return []
        notes = self._set_topic(incident) if topic else []
        return notes + self._show_card(ref)

    def invite(self, ref: str, person: str, raw_text: str = "") -> list[str]:
        """Invite someone named in a command into the incident's channel.

        `person` is the name from the decoded command. `raw_text` is the
        command as the chat service sent it, where a mention carries the
        person's user id, which is unambiguous. Without such a mention the
        backend looks the name up. Returns a sentence if the invitation failed.
        """
        incident = self.store.get(ref)
        if incident is None or incident.channel.startswith("dm:"):
            return []
        user = mentioned_user(raw_text, person, self._user_name) or "@" + person
        return self._invite(incident.channel, user, person)

    def check_person(self, person: str, raw_text: str) -> None:
        """Raise ChannelError unless the chat service has a user with this name.

        A role given to a name nobody has would leave the role unfilled while
        the bot reports it filled. Backends that cannot look people up accept
        every name.
        """
        find = self._method("user_id_for_name")
        if find is None or mentioned_user(raw_text, person, self._user_name):
            return
        try:
            find(person)
        except Exception as error:
            raise ChannelError(str(error)) from error

    # Steps

    def _invite(self, channel_id: str, user: str, name: str) -> list[str]:
        invite = self._method("invite_to_channel")
        if invite is None:
            return []
        try:
            invite(channel_id, user)
        except Exception as error:
            log.warning("failed to invite %s into %s: %s", user, channel_id, error)
            return [f"{name} was not invited into the incident channel: {error}."]
        return []

    def _set_topic(self, incident: Incident) -> list[str]:
        set_topic = self._method("set_topic")
        if set_topic is None:
            return []
        topic = fit(topic_text(incident), TOPIC_MAX, self.escape)
        try:
            set_topic(incident.channel, topic)
        except Exception as error:
            log.warning("failed to set the topic for %s: %s", incident.ref, error)
            return [f"The channel topic was not set: {error}."]
        return []

    def _show_card(self, ref: str) -> list[str]:
        """Edit the status card, or post it when there is none or it was deleted."""
        post = self._method("post_message")
        edit = self._method("edit_message")
        if post is None or edit is None:
            return []
        # Rendering and sending under one lock per incident means the card
        # sent last shows the newest state.
        with self.store.lock(f"card/{ref}"):
            incident = self.store.require(ref)
            text = self.escape(card_text(incident))
            if incident.card_ts:
                try:
                    if edit(incident.channel, incident.card_ts, text):
                        return []
                except Exception as error:
                    log.warning("failed to update the card of %s: %s", ref, error)
                    return [f"The status card was not updated: {error}."]
                log.info("the status card of %s was deleted; posting a new one", ref)
            try:
                ts = post(incident.channel, text)
            except Exception as error:
                log.warning("failed to post the card of %s: %s", ref, error)
                return [f"The status card was not posted: {error}."]
            with self.store.edit(ref) as stored:
                stored.card_ts = str(ts)
        return []

    def _user_name(self, user_id: str) -> str | None:
        lookup = self._method("userid_to_username")
        if lookup is None:
            return None
        try:
            return str(lookup(user_id))
        except Exception as error:
            log.warning("failed to look up the name of user %s: %s", user_id, error)
            return None

    def _method(self, name: str) -> Callable[..., Any] | None:
        method = getattr(self.chat, name, None)
        return method if callable(method) else None


def runs_in_created_channel(incident: Incident) -> bool:
    """Return True while the incident runs in the channel the bot created for it.

    `incident attach` in another channel moves the incident there, and the
    bot then leaves that other channel's topic alone.
    """
    return bool(incident.created_channel) and incident.created_channel == (
        incident.channel
    )


def mentioned_user(
    raw_text: str, name: str, user_name: Callable[[str], str | None]
) -> str | None:
    """Return the id of the user mentioned in raw Slack text whose name is `name`."""
    for user_id in dict.fromkeys(_USER_MENTION.findall(raw_text)):
        if user_name(user_id) == name:
            return user_id
    return None
