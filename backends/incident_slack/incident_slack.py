"""Errbot's SlackV3 backend (errbot-backend-slackv3 0.3.2), fixed for the incident bot.

It adds, over the stock backend:
- every WebClient, the Socket Mode one included, uses the config's
  SLACK_API_URL, so a test or staging setup that sets it reaches no other host;
- an event that Slack delivers again (same event_id) runs once, and so does a
  repeated slash-command envelope, even across a restart (slack_deliveries);
- edits of a message (message_changed) and the bot's own messages and
  reactions run no commands;
- slash commands (/incident, /inc and /pd unless the settings say otherwise)
  run as the chat command they map to, and errors and help for them are
  shown to the person who typed them only;
- a message someone edits reaches plugins' callback_message_edit, so they can
  update what they keep of it, and never runs a command again;
- query_room finds, creates and invites into channels that did not exist;
- plain methods for the Incident plugin's channel work: create_channel (None
  when Slack reports the name taken), invite_to_channel, set_topic,
  add_bookmark, post_message, edit_message and usergroup_handle, a cached
  usergroups.list lookup (slack_channels, slack_usergroups);
- posts go out as written, with link_names off and without the stock
  Markdown conversion, so text quoted from people cannot ping and keeps its
  characters; long posts are split at line ends;
- messages from other apps reach plugins but run no command;
- successful users.info, conversations.info and team.info responses are cached;
- send() returns the posted message, with its Slack timestamps in extras["ts"];
- fetch_message() returns a message by channel and ts, thread replies included.

Only Socket Mode is supported: BOT_IDENTITY needs both "token" and "app_token".
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import slack_channels
import slackv3.slackv3 as stock
from errbot.backends.base import Message
from slack_commands import (
    command_text,
    has_command,
    missing_command,
    unknown_slash_command,
)
from slack_deliveries import (
    DELIVERIES_FILE,
    DeliveryLog,
    event_key,
    slash_command_key,
)
from slack_history import find_message
from slack_lookups import CachingWebClient
from slack_markup import PlainText
from slack_rooms import IncidentSlackRoom
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient
from slack_usergroups import UsergroupHandles
from slackv3.lib import SlackAPIResponseError
from slackv3.person import SlackPerson
from slackv3.room import SlackRoom, SlackRoomOccupant

from incidentbot.chat_events import EDITED, PRIVATE_REPLY
from incidentbot.chunks import split_for_slack
from incidentbot.settings import example_settings_path, load_settings

log = logging.getLogger(__name__)

# slack_sdk's default base URL, used only when the config sets no SLACK_API_URL.
SLACK_API_URL = "https://slack.com/api/"
# Retries of a Web API call that Slack rejected with 429, each after its
# Retry-After.
RATE_LIMIT_RETRIES = 3
# Retries of a Web API call that failed with a 5xx status from Slack.
SERVER_ERROR_RETRIES = 2
# Extras key of a reply that goes through a slash command's response_url.
RESPONSE_URL = "response_url"
# Seconds before a post to a response_url is abandoned.
RESPONSE_TIMEOUT = 10


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
        # The settings file is the Incident plugin's; a bad one stops the bot
        # here with the key named, before it connects.
        settings = load_settings(
            getattr(config, "INCIDENT_SETTINGS", None) or example_settings_path()
        )
        self.slash_commands = dict(settings.slash_commands)
        # The stock backend turns Markdown into Slack markup, which changed what
        # people typed: "*.log" lost its asterisk and "&lt;!channel&gt;" became
        # a live mention. Plugins here already write Slack markup, so posts go
        # out as written.
        self.md: Any = PlainText()
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
                RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                # A 5xx from Slack is usually brief, and a lost reply or
                # status card is worse than one a second late.
                ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
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
        if event.get("subtype") == "message_changed":
            edited = edited_message(event)
            if edited is None or self._from_self(edited):
                log.debug("Ignoring change of message %s", changed_ts(event))
                return
            # The stock handler builds the message; callback_message then
            # hands it to plugins as an edit instead of running it.
            event = edited
        if self._from_self(event):
            return
        super()._handle_message(webclient, event)

    @staticmethod
    def sanitize_uris(text: str) -> str:
        """Keep links in Slack markup, for plugins to decode.

        The stock backend replaced <url|label> with the label, so a command
        such as "update rolling back per <https://…|runbook>" lost the URL.
        """
        return text

    def callback_message(self, msg: Message) -> None:
        """Run a person's message as usual; hand others to plugins only.

        An edited message goes to plugins' callback_message_edit. A message
        from another app or integration (a bot_id, or subtype bot_message)
        runs no command, since anyone who can make such an app post, a
        GitLab comment mirrored into the channel for example, could otherwise
        resolve an incident. Plugins still see it, so it can be pinned.
        """
        event = msg.extras.get("slack_event") or {}
        if event.get(EDITED):
            msg.extras[EDITED] = True
            self._to_plugins("callback_message_edit", msg)
            return
        if event.get("bot_id") or event.get("subtype") == "bot_message":
            self._to_plugins("callback_message", msg)
            return
        super().callback_message(msg)

    def _to_plugins(self, method: str, msg: Message) -> None:
        """Call a method on every active plugin that has it; log failures."""
        for plugin in self.plugin_manager.get_all_active_plugins():
            callback = getattr(plugin, method, None)
            if callback is None:
                continue
            try:
                callback(msg)
            except Exception:
                log.exception("%s of plugin %s failed", method, plugin.name)

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
        text = command_text(payload, self.bot_config.BOT_PREFIX, self.slash_commands)
        if text is None:
            log.warning(
                "Slash command %s from %s is not in the settings' slash_commands",
                payload.get("command"),
                payload.get("user_id"),
            )
            self._tell(payload, unknown_slash_command(payload, self.slash_commands))
            return
        command = self.slash_commands[str(payload["command"]).strip().lower()]
        if not has_command(self.commands, command):
            self._tell(payload, missing_command(payload, command))
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

    def _tell(self, payload: dict[str, Any], text: str) -> None:
        """Show text to the person who typed a slash command, and nobody else."""
        try:
            self.slack_web.chat_postEphemeral(
                channel=payload["channel_id"],
                user=payload["user_id"],
                text=text,
                link_names=False,
            )
        except SlackApiError as error:
            log.warning(
                "Failed to tell %s about slash command %s: Slack returned %s",
                payload.get("user_id"),
                payload.get("command"),
                error.response.get("error"),
            )

    def build_reply(
        self,
        msg: Message,
        text: str | None = None,
        private: bool = False,
        threaded: bool = False,
    ) -> Message:
        """Build a reply; make it ephemeral for a slash command's errors and help.

        Slack shows a slash command to nobody but the person who typed it, so
        an error or help text for it goes to that person alone. A plugin marks
        such replies by setting extras[PRIVATE_REPLY] on the incoming message.
        """
        reply: Message = super().build_reply(msg, text, private, threaded)
        payload = msg.extras.get("slash_command")
        if not payload:
            return reply
        if msg.extras.get(PRIVATE_REPLY):
            reply.to = msg.frm
            reply.extras["ephemeral"] = True
        if not self._can_post_in(str(payload.get("channel_id", ""))):
            reply.extras[RESPONSE_URL] = payload.get("response_url")
        return reply

    def _can_post_in(self, channel_id: str) -> bool:
        """Say whether the bot can post in a channel, as a member or in a DM.

        Slash commands work in every channel, also those the bot was never
        invited to, where chat.postMessage fails with not_in_channel.
        """
        if channel_id.startswith("D"):
            return True
        try:
            info = self.slack_web.conversations_info(channel=channel_id)
        except SlackApiError as error:
            # A private channel the bot is not in is channel_not_found.
            log.info(
                "Replying to a slash command through its response_url: "
                "conversations.info for %s returned %s",
                channel_id,
                error.response.get("error"),
            )
            return False
        return bool(info["channel"].get("is_member"))

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
        response_url = msg.extras.pop(RESPONSE_URL, None)
        if response_url:
            return self._respond(msg, str(response_url))
        return super().send_message(msg)

    def _respond(self, msg: Message, response_url: str) -> Message:
        """Post a slash command's reply through the response_url Slack sent.

        Slack accepts a few such posts within 30 minutes of the command, so
        this serves only replies where the bot is not a channel member.
        """
        response_type = "ephemeral" if msg.extras.get("ephemeral") else "in_channel"
        client = WebhookClient(
            response_url, timeout=RESPONSE_TIMEOUT, proxy=self.proxies
        )
        try:
            response = client.send(
                text=self.md.convert(msg.body), response_type=response_type
            )
        except OSError as error:
            log.error("Failed to post a slash command's reply: %s", error)
            return msg
        if response.status_code != 200:
            log.error(
                "Failed to post a slash command's reply: its response_url "
                "returned HTTP %s %s",
                response.status_code,
                response.body,
            )
        return msg

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
        # Parts end at line ends where they can and never inside an entity
        # such as &amp;, which the stock splitter could cut in half.
        for part in split_for_slack(msg.body) or [msg.body]:
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

    # Incident channels, used by the Incident plugin when the backend has them.
    # Each raises RoomError naming Slack's error code when Slack rejects it.

    def create_channel(self, name: str, private: bool = False) -> str | None:
        """Create a channel and return its id, or None when the name is taken."""
        return slack_channels.create_channel(self.slack_web, name, private=private)

    def invite_to_channel(self, channel_id: str, user: str) -> None:
        """Invite a user id (U123) or "@name" into a channel, if not in it yet."""
        slack_channels.invite(self.slack_web, channel_id, user)

    def user_id_for_name(self, name: str) -> str:
        """Return the id of the one user with this user or display name.

        Raises RoomError naming the name when nobody or several people have it.
        """
        return slack_channels.user_id_for(self.slack_web, name)

    def set_topic(self, channel_id: str, text: str) -> None:
        """Set a channel's topic to text, which must be escaped for Slack."""
        slack_channels.set_topic(self.slack_web, channel_id, text)

    def add_bookmark(self, channel_id: str, title: str, url: str) -> None:
        """Add a link bookmark to a channel."""
        slack_channels.add_bookmark(self.slack_web, channel_id, title, url)

    def post_message(self, channel_id: str, text: str) -> str:
        """Post escaped text with link_names off and return the message's ts."""
        return slack_channels.post_text(self.slack_web, channel_id, text)

    def edit_message(self, channel_id: str, ts: str, text: str) -> bool:
        """Replace the text of the bot's message; return False if it was deleted."""
        return slack_channels.edit_text(self.slack_web, channel_id, ts, text)

    def usergroup_handle(self, group_id: str) -> str | None:
        """Return the handle of a user group (S123), or None if it is unknown."""
        return self._usergroup_handles.handle(self.slack_web, group_id)

    @cached_property
    def _usergroup_handles(self) -> UsergroupHandles:
        return UsergroupHandles()

    def shutdown(self) -> None:
        self._stopped.set()
        try:
            super().shutdown()
        finally:
            self._deliveries.close()


def edited_message(event: dict[str, Any]) -> dict[str, Any] | None:
    """Return the edited message of a message_changed event as a message event.

    Returns None when the change is not someone's edit: Slack also sends
    message_changed when it adds a link preview, and then the text stays the
    same and no "edited" mark is set.
    """
    message = event.get("message")
    if not isinstance(message, dict) or not message.get("edited"):
        return None
    previous = event.get("previous_message")
    if isinstance(previous, dict) and previous.get("text") == message.get("text"):
        return None
    edited = {key: value for key, value in message.items() if key != "attachments"}
    edited["channel"] = event.get("channel")
    edited[EDITED] = True
    return edited


def changed_ts(event: dict[str, Any]) -> Any:
    message = event.get("message")
    return message.get("ts") if isinstance(message, dict) else None


def api_url(config: Any) -> str:
    """Return the config's SLACK_API_URL with a trailing slash, or Slack's URL."""
    url = getattr(config, "SLACK_API_URL", None) or SLACK_API_URL
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"invalid SLACK_API_URL {url!r}: use an http(s) URL such as {SLACK_API_URL}"
        )
    return url if url.endswith("/") else url + "/"
