"""Errbot's SlackV3 backend (errbot-backend-slackv3 0.3.2), fixed for the incident bot.

It adds, over the stock backend:
- every WebClient, the Socket Mode one included, uses the config's
  SLACK_API_URL, so a test or staging setup that sets it reaches no other host;
- an event that Slack delivers again (same event_id) runs once, and so does a
  repeated slash-command envelope, even across a restart (slack_deliveries);
- edits of a message (message_changed) and the bot's own messages and
  reactions run no commands;
- /incident and /inc slash commands run as the chat command `!incident`;
- query_room finds, creates and invites into channels that did not exist;
- posts go out with link_names off, so text quoted from people cannot ping;
- successful users.info, conversations.info and team.info responses are cached;
- send() returns the posted message, with its Slack timestamps in extras["ts"];
- fetch_message() returns a message by channel and ts, thread replies included.

Only Socket Mode is supported: BOT_IDENTITY needs both "token" and "app_token".
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import slackv3.slackv3 as stock
from errbot.backends.base import Message
from errbot.utils import split_string_after
from slack_commands import command_text
from slack_deliveries import (
    DELIVERIES_FILE,
    DeliveryLog,
    event_key,
    slash_command_key,
)
from slack_history import find_message
from slack_lookups import CachingWebClient
from slack_rooms import IncidentSlackRoom
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient
from slackv3.lib import SlackAPIResponseError
from slackv3.person import SlackPerson
from slackv3.room import SlackRoom, SlackRoomOccupant

log = logging.getLogger(__name__)

# slack_sdk's default base URL, used only when the config sets no SLACK_API_URL.
SLACK_API_URL = "https://slack.com/api/"
# Retries of a Web API call that Slack rejected with 429, each after its
# Retry-After.
RATE_LIMIT_RETRIES = 3


class IncidentSlackBackend(stock.SlackBackend):
    """SlackV3 in Socket Mode with a configurable API URL and safe deliveries."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.api_url = api_url(config)
        if not self.app_token:
            raise ValueError(
                "BOT_IDENTITY has no app_token: the IncidentSlack backend needs "
                "Socket Mode. Set SLACK_APP_TOKEN to the app-level token (xapp-...)."
            )
        self._deliveries = DeliveryLog(Path(config.BOT_DATA_DIR) / DELIVERIES_FILE)
        self._stopped = threading.Event()
        # Messages posted by the current thread's send(), so that it can
        # return their Slack timestamps.
        self._posted = threading.local()

    # The stock backend hashes every instance to 0, and ErrBot compares as a
    # mapping over its storage. Its lru_cache'd lookups are shared by the
    # class, so a second instance (a restart in one process) compared equal
    # to a stopped one and read its closed storage. Identity fixes both.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def mode(self) -> str:
        # The Incident plugin reads Slack text conventions in this mode.
        return "slackv3"

    # Connection

    def web_client(self) -> WebClient:
        """Build a Web API client for the configured API URL."""
        # Slack returns 429 with a Retry-After when a workspace posts fast, as
        # an incident channel can; a few bounded retries keep replies flowing.
        return CachingWebClient(
            token=self.token,
            base_url=self.api_url,
            proxy=self.proxies,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)
            ],
        )

    def serve_once(self) -> bool:
        """Connect through Socket Mode and serve until shutdown is requested.

        Returns True on a requested stop, so that serve_forever does not reconnect.
        """
        self.slack_web = self.web_client()
        log.info("Verifying the Slack bot token at %s", self.api_url)
        self.auth = self.slack_web.auth_test()
        if not self.auth["ok"]:
            raise SlackAPIResponseError(
                error=f"Slack rejected the bot token: {self.auth['error']}"
            )
        self.bot_identifier = SlackPerson(self.slack_web, self.auth["user_id"])
        self.update_alternate_prefixes()

        self.slack_socket_mode = SocketModeClient(
            app_token=self.app_token,
            web_client=self.slack_web,
        )
        # The stock hello handler takes (client, message, raw_message), the
        # arguments of message_listeners, and removes itself after "hello".
        self.slack_socket_mode.message_listeners.append(self._sm_handle_hello)
        self.slack_socket_mode.socket_mode_request_listeners.append(
            self._sm_generic_event_handler
        )
        log.info("Connecting to Slack in Socket Mode")
        self.slack_socket_mode.connect()
        try:
            self._stopped.wait()
        finally:
            self.slack_socket_mode.close()
            self.disconnect_callback()
        return True

    def stop(self) -> None:
        """Close the Socket Mode connection and make serve_forever return."""
        self._stopped.set()

    # Incoming envelopes

    def _sm_generic_event_handler(
        self, client: BaseSocketModeClient, req: SocketModeRequest
    ) -> None:
        # Slack redelivers an envelope that is not acknowledged within 3 seconds,
        # so the acknowledgement goes out before any work.
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id)
        )
        if req.type == "events_api":
            if self._first_delivery(event_key(req.payload), req.retry_attempt):
                self._generic_wrapper(req.payload)
        elif req.type == "slash_commands":
            if self._first_delivery(slash_command_key(req.payload), None):
                self._handle_slash_command(req.payload)
        else:
            log.info("Ignoring Socket Mode envelope of type %s", req.type)

    def _first_delivery(self, key: str | None, retry: int | None) -> bool:
        """Record a delivery and return False if it was handled before."""
        if key is None:
            return True
        try:
            first = self._deliveries.first_time(key)
        except sqlite3.Error:
            # Running a command twice does less harm than never running it.
            log.exception(
                "Failed to record delivery %s in %s, handling it anyway",
                key,
                self._deliveries.path,
            )
            return True
        if not first:
            log.info("Dropping repeated delivery of %s (retry %s)", key, retry)
        return first

    def _handle_message(self, webclient: WebClient, event: dict[str, Any]) -> None:
        subtype = event.get("subtype")
        if subtype == "message_changed":
            # An edit would run its command a second time, and a link preview
            # arrives as an edit too. NOTE: the plugin's stored copy of an
            # edited message keeps the text it had when first posted.
            log.debug("Ignoring edit of message %s", event.get("message", {}).get("ts"))
            return
        if self._from_self(event):
            return
        super()._handle_message(webclient, event)

    def _handle_reaction_event(self, event: dict[str, Any], action: str) -> None:
        if self._from_self(event):
            return
        super()._handle_reaction_event(event, action)

    def _from_self(self, event: dict[str, Any]) -> bool:
        user = event.get("user")
        if user is not None and user == self.auth["user_id"]:
            return True
        bot_id = event.get("bot_id")
        return bot_id is not None and bot_id == self.auth.get("bot_id")

    def _handle_slash_command(self, payload: dict[str, Any]) -> None:
        text = command_text(payload, self.bot_config.BOT_PREFIX)
        if text is None:
            log.warning(
                "Ignoring unknown slash command %s from %s: the Slack app routes it "
                "here, but the bot has no command for it",
                payload.get("command"),
                payload.get("user_id"),
            )
            return
        user_id = str(payload["user_id"])
        channel_id = str(payload["channel_id"])
        message = Message(
            text,
            extras={
                # build_reply reads the event, so it gets the parts a message has.
                "slack_event": {"channel": channel_id, "user": user_id},
                "slash_command": payload,
            },
        )
        if channel_id.startswith("D"):
            message.frm = SlackPerson(self.slack_web, user_id, channel_id)
            message.to = message.frm
        else:
            message.frm = SlackRoomOccupant(self.slack_web, user_id, channel_id, self)
            message.to = SlackRoom(
                webclient=self.slack_web, channelid=channel_id, bot=self
            )
        self.callback_message(message)

    # Rooms

    def query_room(self, room: str) -> IncidentSlackRoom:
        """Return the channel with this id, <#C…|name> link or (#)name."""
        match = stock.SLACK_CLIENT_CHANNEL_HYPERLINK.match(room)
        if match is not None:
            room = match.group("id")
        if room[:1] in ("C", "G") and room[1:].isalnum() and room.isupper():
            return IncidentSlackRoom(webclient=self.slack_web, channelid=room, bot=self)
        return IncidentSlackRoom(
            webclient=self.slack_web, name=room.removeprefix("#"), bot=self
        )

    # Outgoing messages

    def send_message(self, msg: Message) -> Message:
        # With link_names on, Slack turns "@here" or "@alice" in text the bot
        # quotes into live mentions. Mentions the bot means to make are sent
        # as <@U…> and work without it.
        msg.extras.setdefault("link_names", False)
        return super().send_message(msg)

    def send(
        self,
        identifier: Any,
        text: str,
        in_reply_to: Message | None = None,
        groupchat_nick_reply: bool = False,
    ) -> Message | None:
        """Post text like ErrBot.send and return the last message posted.

        Its extras["ts"] lists the Slack timestamps of every part, first to
        last, and is empty when posting failed (the failure is logged).
        """
        self._posted.messages = []
        try:
            super().send(identifier, text, in_reply_to, groupchat_nick_reply)
            posted: list[Message] = self._posted.messages
        finally:
            del self._posted.messages
        if not posted:
            return None
        last = posted[-1]
        # send_message sets no "ts" on a part whose post raised.
        last.extras["ts"] = [
            ts for message in posted for ts in message.extras.get("ts", [])
        ]
        return last

    def split_and_send_message(self, msg: Message) -> None:
        collecting = getattr(self._posted, "messages", None)
        for part in split_string_after(msg.body, self.message_size_limit):
            partial = msg.clone()
            partial.body = part
            partial.partial = True
            sent = self.send_message(partial)
            if collecting is not None:
                collecting.append(sent)

    # Message lookup

    def fetch_message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """Return the raw Slack message with this ts, or None if Slack has none.

        It finds thread replies too, so a plugin can read a reacted message
        it never received. Raises SlackApiError when Slack rejects the call,
        for example not_in_channel or a missing history scope.
        """
        return find_message(self.slack_web, channel_id, ts)

    def shutdown(self) -> None:
        self._stopped.set()
        try:
            super().shutdown()
        finally:
            self._deliveries.close()


def api_url(config: Any) -> str:
    """Return the config's SLACK_API_URL with a trailing slash, or Slack's URL."""
    url = getattr(config, "SLACK_API_URL", None) or SLACK_API_URL
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"invalid SLACK_API_URL {url!r}: use an http(s) URL such as {SLACK_API_URL}"
        )
    return url if url.endswith("/") else url + "/"
