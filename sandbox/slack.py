"""A local emulator of the parts of Slack that a Socket Mode bot uses.

The Web API is served over HTTP at {url}/api/<method>, so slack_sdk's
WebClient works with base_url=f"{url}/api/". The Socket Mode WebSocket
server listens on a second port and hands out the URLs that
apps.connections.open returns. Tests set up users and channels directly,
act as people with post_as, react_as and edit_as, and inspect what the bot
sent with messages() and calls. People outside the process act through the
control routes under /sandbox/ (sandbox/slack_control.py).

Responses follow Slack's: HTTP 200 with {"ok": false, "error": ...} for
failed calls, invalid_auth for a wrong token, and unknown_method for a
method the sandbox lacks, which it also records in unknown_methods.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from sandbox.server import LocalServer, Request, Response
from sandbox.slack_chat import add_reaction, remove_reaction
from sandbox.slack_control import CONTROL_PREFIX, SlackControl
from sandbox.slack_events import (
    events_api_envelope,
    message_changed_event,
    message_event,
    new_envelope_id,
    new_event_id,
    new_trigger_id,
    reaction_event,
    slash_command_envelope,
)
from sandbox.slack_methods import METHODS
from sandbox.slack_params import ApiCall, SlackError
from sandbox.slack_socket import SocketModeServer
from sandbox.slack_store import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    ChannelRecord,
    MessageRecord,
    UsergroupRecord,
    UserRecord,
    Workspace,
    format_ts,
    parse_ts,
)

log = logging.getLogger("sandbox.slack")

# Scopes of the sandbox's bot token, sent in the x-oauth-scopes header.
# errbot-backend-slackv3 0.3.2 reads this header after auth.test and uses
# Socket Mode only when the scopes are not the classic RTM ones.
# The scopes of docs/slack-app-manifest.yml, which Slack reports in the
# x-oauth-scopes header of every Web API response.
BOT_SCOPES = (
    "bookmarks:write,channels:history,channels:join,channels:manage,"
    "channels:read,chat:write,commands,groups:history,groups:read,groups:write,"
    "im:history,im:read,im:write,mpim:read,reactions:read,reactions:write,"
    "team:read,usergroups:read,users:read"
)
CONNECTIONS_OPEN = "apps.connections.open"
RESPONSE_URL_PREFIX = "/commands/"


@dataclass
class _Fault:
    """An injected failure for the next calls of one Web API method."""

    method: str
    remaining: int
    error: str | None
    status: int
    retry_after: int | None

    def response(self) -> Response:
        if self.error is not None:
            return Response(200, {"ok": False, "error": self.error})
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        error = "ratelimited" if self.status == 429 else "internal_error"
        return Response(self.status, {"ok": False, "error": error}, headers)


def _unused_ts(channel: ChannelRecord, ts: str) -> str:
    """Return a chosen message ts in Slack's form, checked to be unused in channel.

    Raises ValueError for a malformed ts or one that a message in the channel
    has. Deleted messages count, because Slack never reuses a message's ts.
    """
    microseconds = parse_ts(ts)
    if microseconds is None:
        raise ValueError(
            f"invalid message ts {ts!r}: use Slack's form, seconds since the "
            "epoch with 6 decimals, such as '1733301000.000100'"
        )
    chosen = format_ts(microseconds)
    if any(message.ts == chosen for message in channel.messages):
        raise ValueError(f"ts {chosen} is taken by a message in {channel.id}")
    return chosen


class SlackSandbox:
    """Slack Web API and Socket Mode emulator on 127.0.0.1, in background threads.

    The workspace starts with the bot's own user (bot_user_id, bot_id and
    bot_name) and nothing else. The bot token works for every method but
    apps.connections.open, which needs the app token, as on Slack.

    With deliver_own_events=True the bot's Web API calls also deliver the
    events Slack sends about them: message events for its posts, edits and
    deletions, reaction events and member_joined_channel. Without it, only
    what tests deliver reaches the client.
    """

    def __init__(
        self,
        *,
        bot_name: str = "incident-bot",
        bot_token: str = "xoxb-sandbox",
        app_token: str = "xapp-sandbox",
        deliver_own_events: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        socket_port: int = 0,
    ) -> None:
        if not bot_token.startswith("xoxb-"):
            raise ValueError(f"bot_token must start with 'xoxb-', not {bot_token!r}")
        if not app_token.startswith("xapp-"):
            raise ValueError(f"app_token must start with 'xapp-', not {app_token!r}")
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.team_id = TEAM_ID
        self.app_id = APP_ID
        self.deliver_own_events = deliver_own_events
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.unknown_methods: list[str] = []
        self.envelopes: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._response_urls: dict[str, str] = {}
        self._workspace = Workspace(bot_name)
        self._control = SlackControl(
            self._workspace,
            self._lock,
            post=self.post_as,
            react=self.react_as,
            slash_command=self.deliver_slash_command,
        )
        self._server = LocalServer(self._handle, host=host, port=port, name="slack")
        self._socket = SocketModeServer(host=host, port=socket_port)

    # Lifecycle

    @property
    def url(self) -> str:
        """Base URL of the Web API, without /api/."""
        return self._server.url

    @property
    def api_url(self) -> str:
        """The base_url for slack_sdk's WebClient, ending in /api/."""
        return f"{self.url}/api/"

    def start(self) -> None:
        self._server.start()
        self._socket.start()

    def stop(self) -> None:
        self._socket.stop()
        self._server.stop()

    def __enter__(self) -> SlackSandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Workspace setup

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        is_bot: bool = False,
        bot_id: str | None = None,
        email: str | None = None,
    ) -> None:
        """Add a person, or another bot when is_bot is set.

        real_name defaults to name. Raises ValueError for a taken ID.
        """
        with self._lock:
            if user_id in self._workspace.users:
                raise ValueError(f"user {user_id} already exists in the sandbox")
            self._workspace.users[user_id] = UserRecord(
                user_id,
                name,
                real_name if real_name is not None else name,
                is_bot=is_bot,
                bot_id=bot_id,
                email=email,
            )

    def add_channel(
        self,
        channel_id: str,
        name: str,
        members: Iterable[str] = (),
        is_private: bool = False,
    ) -> None:
        """Add a channel. Include bot_user_id in members for the bot to be in it.

        Raises ValueError for a taken ID or name and KeyError for an unknown
        member.
        """
        members = list(dict.fromkeys(members))
        with self._lock:
            workspace = self._workspace
            if channel_id in workspace.channels:
                raise ValueError(f"channel {channel_id} already exists in the sandbox")
            if workspace.channel_by_name(name) is not None:
                raise ValueError(f"a channel named #{name} already exists")
            for user_id in members:
                self._require_user(user_id)
            workspace.channels[channel_id] = ChannelRecord(
                id=channel_id,
                name=name,
                is_private=is_private,
                members=members,
                creator=members[0] if members else BOT_USER_ID,
            )

    def add_usergroup(
        self, group_id: str, handle: str, users: Iterable[str] = ()
    ) -> None:
        """Add a user group such as @oncall.

        Raises ValueError for a taken ID and KeyError for an unknown user.
        """
        users = list(dict.fromkeys(users))
        with self._lock:
            if group_id in self._workspace.usergroups:
                raise ValueError(f"user group {group_id} already exists in the sandbox")
            for user_id in users:
                self._require_user(user_id)
            self._workspace.usergroups[group_id] = UsergroupRecord(
                group_id, handle, handle, users=users
            )

    # Inspection

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Return copies of a channel's messages, thread replies included.

        They are in posting order. Each has ts, user, bot_id, text,
        thread_ts, subtype, blocks, attachments, edits, reactions, deleted
        and the delivery options the poster sent (link_names, unfurl_links,
        ...). Deleted messages stay in the list with deleted=True.
        """
        with self._lock:
            channel = self._require_channel(channel_id)
            return [message.snapshot() for message in channel.messages]

    def ephemeral_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Return copies of the ephemeral messages sent in a channel."""
        with self._lock:
            channel = self._require_channel(channel_id)
            return [dict(message) for message in channel.ephemeral]

    def channel(self, channel_id: str) -> dict[str, Any]:
        """Return a channel as conversations.info shows it to the bot."""
        with self._lock:
            return self._require_channel(channel_id).as_json()

    def bookmarks(self, channel_id: str) -> list[dict[str, Any]]:
        with self._lock:
            channel = self._require_channel(channel_id)
            return [dict(bookmark) for bookmark in channel.bookmarks]

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Return the arguments of every call of one Web API method."""
        with self._lock:
            return [arguments for name, arguments in self.calls if name == method]

    def reset_log(self) -> None:
        """Clear calls, unknown_methods, envelopes, responses and acks."""
        with self._lock:
            self.calls.clear()
            self.unknown_methods.clear()
            self.envelopes.clear()
            self.responses.clear()
            self._socket.clear_log()

    # Failure injection

    def fail_next(
        self,
        method: str,
        error_or_status: str | int,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Make the next `times` calls of a Web API method fail.

        A string makes them return HTTP 200 {"ok": false, "error": <string>}.
        A number makes them return that HTTP status: 429 with error
        "ratelimited" and a Retry-After header (retry_after seconds, 1 by
        default), other statuses with error "internal_error". method "*"
        matches every method. times=0 cancels what is left of earlier
        failures of that method.
        """
        if method != "*" and method != CONNECTIONS_OPEN and method not in METHODS:
            raise ValueError(
                f"the sandbox does not serve {method!r}, so no call of it can "
                "fail; use a method name such as 'chat.postMessage', or '*'"
            )
        if times == 0:
            with self._lock:
                self._faults = [f for f in self._faults if f.method != method]
            return
        if isinstance(error_or_status, int):
            if error_or_status < 400:
                raise ValueError(
                    f"status must be an HTTP error status (4xx or 5xx), "
                    f"not {error_or_status}"
                )
            if error_or_status == 429 and retry_after is None:
                retry_after = 1
            fault = _Fault(method, times, None, error_or_status, retry_after)
        else:
            fault = _Fault(method, times, error_or_status, 200, retry_after)
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in ("*", method):
                fault.remaining -= 1
                return fault
        return None

    # Socket Mode

    @property
    def acks(self) -> list[dict[str, Any]]:
        """Acknowledgements received: envelope_id, delay in seconds, payload."""
        return self._socket.acks

    @property
    def unexpected_frames(self) -> list[Any]:
        """Frames from clients that were not acknowledgements."""
        return self._socket.unexpected_frames

    @property
    def open_connections(self) -> int:
        return self._socket.open_connections

    @property
    def opened_connections(self) -> int:
        """Socket Mode connections opened since start, closed ones included."""
        return self._socket.opened_connections

    def wait_for_connection(self, timeout: float = 5.0, *, total: int = 1) -> None:
        """Wait until `total` Socket Mode connections were opened and one is open.

        Raises AssertionError on timeout.
        """
        self._socket.wait_for_connection(timeout, total=total)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> float:
        """Return the seconds from delivery to acknowledgement of an envelope.

        Raises AssertionError naming the envelope on timeout.
        """
        return self._socket.wait_for_ack(envelope_id, timeout)

    def disconnect_all(
        self, reason: str = "refresh_requested", *, send_disconnect: bool = True
    ) -> int:
        """Close every Socket Mode connection, as Slack does when it moves a client.

        By default each client first gets Slack's disconnect frame with
        reason, which makes slack_sdk's clients reconnect at once through
        apps.connections.open. send_disconnect=False closes without warning,
        as when the network drops. Returns the number of connections closed.
        """
        return self._socket.disconnect_all(reason, send_disconnect=send_disconnect)

    def deliver_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Deliver an Events API event in an events_api envelope.

        Returns the envelope_id. Raises RuntimeError when no Socket Mode
        client is connected.
        NOTE: Slack redelivers an envelope that is not acknowledged within
        3 seconds; the sandbox does not, and tests pass retry_attempt instead.
        """
        envelope = events_api_envelope(
            event,
            envelope_id=new_envelope_id(),
            event_id=event_id or new_event_id(),
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
        )
        return self._send(envelope)

    def deliver_slash_command(
        self,
        command: str,
        text: str,
        user_id: str,
        channel_id: str,
        *,
        trigger_id: str | None = None,
    ) -> str:
        """Deliver a slash command such as "/incident" in a slash_commands envelope.

        Its response_url points back at the sandbox, which records POSTs to
        it in responses. Returns the envelope_id. Raises ValueError for a
        command without a leading "/" and KeyError for an unknown user or
        channel.
        """
        if not command.startswith("/"):
            raise ValueError(f"a slash command starts with '/', got {command!r}")
        envelope_id = new_envelope_id()
        secret = secrets.token_hex(12)
        with self._lock:
            user = self._require_user(user_id)
            channel = self._require_channel(channel_id)
            channel_name = "directmessage" if channel.is_im else channel.name
            path = f"{RESPONSE_URL_PREFIX}{TEAM_ID}/{len(self._response_urls) + 1}/"
            path += secret
            self._response_urls[path] = envelope_id
        envelope = slash_command_envelope(
            envelope_id=envelope_id,
            command=command,
            text=text,
            user_id=user.id,
            user_name=user.name,
            channel_id=channel.id,
            channel_name=channel_name,
            response_url=f"{self.url}{path}",
            trigger_id=trigger_id or new_trigger_id(),
        )
        return self._send(envelope)

    def _send(self, envelope: dict[str, Any]) -> str:
        self._socket.send(envelope)
        with self._lock:
            self.envelopes.append(envelope)
        envelope_id: str = envelope["envelope_id"]
        return envelope_id

    # Acting as people

    def post_as(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        thread_ts: str | None = None,
        *,
        deliver: bool = True,
        ts: str | None = None,
    ) -> str:
        """Post a message as a person and deliver its message event.

        Returns the message ts. deliver=False only stores the message, to
        set up history. ts gives the message a chosen timestamp, to replay a
        conversation at its recorded times; by default the sandbox's clock
        issues one. Raises KeyError for an unknown user or channel,
        ValueError when the user is not in the channel, thread_ts matches no
        message, or ts is malformed or taken in the channel, and
        RuntimeError when delivering without a client.
        Slack also sends app_mention when the text mentions the bot, but the
        sandbox sends only the message event.
        """
        if deliver:
            self._require_connection()
        with self._lock:
            self._require_user(user_id)
            channel = self._require_channel(channel_id)
            if user_id not in channel.members:
                raise ValueError(
                    f"user {user_id} is not a member of {channel_id}; add them "
                    "with add_channel(members=...) first"
                )
            if thread_ts is not None and channel.find_message(thread_ts) is None:
                raise ValueError(f"no message {thread_ts} in {channel_id} to reply to")
            if ts is None:
                ts = self._workspace.clock.next_ts()
            else:
                ts = _unused_ts(channel, ts)
            message = MessageRecord(
                ts=ts,
                channel=channel.id,
                user=user_id,
                text=text,
                thread_ts=thread_ts,
                client_msg_id=new_envelope_id(),
            )
            channel.messages.append(message)
            event = message_event(channel, message)
        if deliver:
            self.deliver_event(event)
        return message.ts

    def react_as(
        self, user_id: str, channel_id: str, ts: str, name: str, added: bool = True
    ) -> str:
        """Add (or, with added=False, remove) a person's reaction and deliver it.

        name is the emoji name without colons. Returns the envelope_id.
        Raises KeyError for an unknown user, channel or message, and
        ValueError when the reaction is already there (or, for a removal,
        is not there).
        """
        self._require_connection()
        with self._lock:
            self._require_user(user_id)
            channel = self._require_channel(channel_id)
            message = self._require_message(channel, ts)
            if added and not add_reaction(message, user_id, name):
                raise ValueError(f"{user_id} already reacted with :{name}: to {ts}")
            if not added and not remove_reaction(message, user_id, name):
                raise ValueError(f"{user_id} has no :{name}: reaction on {ts}")
            event = reaction_event(
                added=added,
                user_id=user_id,
                name=name,
                channel=channel,
                message=message,
                event_ts=self._workspace.clock.next_ts(),
            )
        return self.deliver_event(event)

    def edit_as(self, user_id: str, channel_id: str, ts: str, text: str) -> str:
        """Edit a person's own message and deliver the message_changed event.

        Returns the envelope_id. Raises KeyError for an unknown channel or
        message and ValueError when user_id is not the message's author.
        """
        self._require_connection()
        with self._lock:
            channel = self._require_channel(channel_id)
            message = self._require_message(channel, ts)
            if message.user != user_id:
                raise ValueError(
                    f"message {ts} was posted by {message.user}, and Slack lets "
                    f"only its author edit it, not {user_id}"
                )
            previous = channel.message_json(message)
            edited_ts = self._workspace.clock.next_ts()
            message.edits.append(
                {
                    "edited_ts": edited_ts,
                    "user": user_id,
                    "previous_text": message.text,
                    "previous_blocks": message.blocks,
                }
            )
            message.text = text
            message.edited = {"user": user_id, "ts": edited_ts}
            event = message_changed_event(channel, previous, message, edited_ts)
        return self.deliver_event(event)

    def _require_connection(self) -> None:
        if self._socket.open_connections == 0:
            raise RuntimeError(
                "no Socket Mode client is connected; connect one and call "
                "wait_for_connection() before acting as a person"
            )

    def _require_user(self, user_id: str) -> UserRecord:
        user = self._workspace.users.get(user_id)
        if user is None:
            raise KeyError(f"no user {user_id} in the sandbox; add it with add_user()")
        return user

    def _require_channel(self, channel_id: str) -> ChannelRecord:
        channel = self._workspace.channels.get(channel_id)
        if channel is None:
            raise KeyError(
                f"no channel {channel_id} in the sandbox; add it with add_channel()"
            )
        return channel

    @staticmethod
    def _require_message(channel: ChannelRecord, ts: str) -> MessageRecord:
        message = channel.find_message(ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel.id}")
        return message

    # HTTP handling

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/api/"):
            return self._web_api(request, request.path[len("/api/") :])
        if request.path in self._response_urls:
            return self._record_response(request)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control.handle(request)
        return Response(404, "Not Found\n")

    def _record_response(self, request: Request) -> Response:
        if request.method.upper() != "POST":
            return Response(405, "Method Not Allowed\n")
        try:
            body = request.params()
        except ValueError:
            return Response(400, "invalid_payload\n")
        with self._lock:
            self.responses.append(
                {"envelope_id": self._response_urls[request.path], "body": body}
            )
        return Response(200, "ok")

    def _web_api(self, request: Request, method: str) -> Response:
        try:
            arguments = request.params()
        except ValueError:
            # Multipart bodies land here too: no method the sandbox serves
            # needs them, and files.* methods are unknown to it.
            return self._ok_false("invalid_form_data")
        token = self._token(request)
        arguments.pop("token", None)

        with self._lock:
            self.calls.append((method, dict(arguments)))
            fault = self._take_fault(method)
        if fault is not None:
            log.info("injected failure for %s: %s", method, fault)
            return fault.response()

        if method != CONNECTIONS_OPEN and method not in METHODS:
            log.warning("unknown Slack Web API method %s was called", method)
            with self._lock:
                self.unknown_methods.append(method)
            return self._ok_false("unknown_method")

        auth_error = self._check_token(method, token)
        if auth_error is not None:
            return self._ok_false(auth_error)
        if method == CONNECTIONS_OPEN:
            return self._ok({"url": self._socket.issue_url()})

        call = ApiCall(self._workspace, arguments, self.url)
        try:
            with self._lock:
                result = METHODS[method](call)
        except SlackError as error:
            return self._ok_false(error.error)
        except Exception:
            # A sandbox bug: fail loudly, as Slack's own fatal errors do.
            log.exception("sandbox failed on Slack method %s", method)
            return Response(500, {"ok": False, "error": "fatal_error"})

        if self.deliver_own_events and call.events:
            self._deliver_own(method, call.events)
        return self._ok(result)

    def _deliver_own(self, method: str, events: list[dict[str, Any]]) -> None:
        if self._socket.open_connections == 0:
            log.info("no Socket Mode client is connected for the events of %s", method)
            return
        for event in events:
            try:
                self.deliver_event(event)
            except RuntimeError as error:
                # The client disconnected between the check and the send.
                log.warning("failed to deliver an event of %s: %s", method, error)
                return

    @staticmethod
    def _token(request: Request) -> str | None:
        """Return the token from the Authorization header or the form fields.

        Slack ignores a token inside a JSON body, so the sandbox does too.
        """
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            return authorization[len("Bearer ") :].strip()
        if "token" in request.query:
            return request.query["token"][-1]
        content_type = request.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in content_type:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
            if "token" in form:
                return form["token"][-1]
        return None

    def _check_token(self, method: str, token: str | None) -> str | None:
        """Return the error code for a missing or wrong token, or None."""
        if not token:
            return "not_authed"
        # compare_digest accepts only ASCII str, and a token may be anything.
        given = token.encode()
        is_app = hmac.compare_digest(given, self.app_token.encode())
        is_bot = hmac.compare_digest(given, self.bot_token.encode())
        if not is_app and not is_bot:
            return "invalid_auth"
        if is_app != (method == CONNECTIONS_OPEN):
            return "not_allowed_token_type"
        return None

    @staticmethod
    def _ok(result: dict[str, Any]) -> Response:
        return Response(200, {"ok": True, **result}, {"x-oauth-scopes": BOT_SCOPES})

    @staticmethod
    def _ok_false(error: str) -> Response:
        return Response(200, {"ok": False, "error": error})
