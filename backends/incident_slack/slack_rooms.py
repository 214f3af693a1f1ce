"""Slack channels as Errbot rooms, with the room API fixed for new channels.

errbot-backend-slackv3 0.3.2's SlackRoom reads its name from conversations.info,
which a channel that does not exist yet has none of, so `exists` and `create`
raised TypeError. It also sent `user=` to conversations.invite, where Slack
reads `users`, and invited by user name only.
"""

from __future__ import annotations

import logging
from typing import Any

from errbot.backends.base import RoomDoesNotExistError, RoomError
from slack_sdk.errors import SlackApiError
from slackv3.room import SlackRoom

log = logging.getLogger(__name__)


class IncidentSlackRoom(SlackRoom):
    """A Slack channel that may not exist yet, found by id or by name."""

    @property
    def name(self) -> str:
        if self._cache is None:
            # Set by SlackRoom only for a room built from a name.
            return str(getattr(self, "_name", ""))
        return str(self._cache["name"])

    @property
    def channelname(self) -> str:
        return self.name

    @property
    def id(self) -> str:
        if self._cache is None:
            raise RoomDoesNotExistError(
                f"channel #{self.name} does not exist: create it with create() first"
            )
        return str(self._cache["id"])

    aclattr = id

    @property
    def exists(self) -> bool:
        return self._cache is not None

    def create(self, private: bool = False) -> None:
        """Create the channel and load its details, or raise RoomError."""
        log.info("Creating channel #%s (private: %s)", self.name, private)
        try:
            response = self._webclient.conversations_create(
                name=self.name, is_private=private
            )
        except SlackApiError as error:
            raise RoomError(
                f"failed to create channel #{self.name}: Slack returned "
                f"{error.response.get('error')}"
            ) from error
        self._cache_channel_info(response["channel"]["id"])

    def invite(self, *args: Any) -> None:
        """Invite people, given as identifiers, user ids or "@name" strings."""
        user_ids = [self._user_id(person) for person in args]
        if not user_ids:
            return
        log.info("Inviting %s into #%s (%s)", ", ".join(user_ids), self.name, self.id)
        try:
            self._webclient.conversations_invite(
                channel=self.id, users=",".join(user_ids)
            )
        except SlackApiError as error:
            if error.response.get("error") == "already_in_channel":
                return
            raise RoomError(
                f"failed to invite {', '.join(user_ids)} into #{self.name}: "
                f"Slack returned {error.response.get('error')}"
            ) from error

    def _user_id(self, person: Any) -> str:
        user_id = getattr(person, "userid", None)
        if user_id is None:
            user_id = getattr(self._bot.build_identifier(str(person)), "userid", None)
        if not user_id:
            raise RoomError(f"cannot invite {person!r}: it names no Slack user")
        return str(user_id)
