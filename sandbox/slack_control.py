"""HTTP control endpoint of the Slack sandbox, for acting as people from outside.

Tests act as people through SlackSandbox's methods. A person trying the bot
from another terminal cannot call them, so the sandbox also serves these
routes on its own Web API port (python -m sandbox.slack_say uses them):

    POST /sandbox/say       {"user", "channel", "text", "thread_ts"?}
    POST /sandbox/react     {"user", "channel", "ts", "name", "remove"?}
    GET  /sandbox/messages  ?after=<ts>

user and channel take an ID or a name ("alice", "@alice", "incidents",
"#incidents"). A text that starts with "/" is delivered as a slash command,
as Slack's message box does. Every response carries "cursor", a timestamp to
pass as after= to read only what came later. Errors use Slack's shape
{"ok": false, "error": code} with a "detail" sentence.

NOTE: the routes take no token, like the rest of the sandbox's fixed
credentials. Serve the sandbox on a loopback address only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sandbox.server import Request, Response
from sandbox.slack_store import Workspace, parse_ts

CONTROL_PREFIX = "/sandbox/"
ROUTES = ("POST /sandbox/say", "POST /sandbox/react", "GET /sandbox/messages")


class ControlError(Exception):
    """A rejected control request: HTTP status, Slack-style error code, detail."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


class SlackControl:
    """Serve the control routes for one sandbox.

    workspace and lock are the sandbox's own. The actions (post, react,
    slash_command) are the sandbox's public methods, which take the lock
    themselves, so they are called without holding it.
    """

    def __init__(
        self,
        workspace: Workspace,
        lock: threading.Lock,
        *,
        post: Callable[..., str],
        react: Callable[..., str],
        slash_command: Callable[..., str],
    ) -> None:
        self._workspace = workspace
        self._lock = lock
        self._post = post
        self._react = react
        self._slash_command = slash_command

    def handle(self, request: Request) -> Response:
        route = f"{request.method.upper()} {request.path}"
        try:
            if route == "POST /sandbox/say":
                return _ok(self._say(_json_object(request)))
            if route == "POST /sandbox/react":
                return _ok(self._react_to(_json_object(request)))
            if route == "GET /sandbox/messages":
                return _ok(self._messages(request))
            raise ControlError(
                404,
                "unknown_route",
                f"the sandbox has no control route {route}; "
                f"use one of: {', '.join(ROUTES)}",
            )
        except ControlError as error:
            body = {"ok": False, "error": error.error, "detail": error.detail}
            return Response(error.status, body)

    # Routes

    def _say(self, body: dict[str, Any]) -> dict[str, Any]:
        text = _required_text(body, "text")
        thread_ts = body.get("thread_ts") or None
        user_id, channel_id = self._resolve(body)
        if text.startswith("/"):
            command, _, arguments = text.partition(" ")
            # Slash commands have no message ts, so the cursor is taken now.
            cursor = self._now()
            self._act(
                lambda: self._slash_command(
                    command.lower(), arguments.strip(), user_id, channel_id
                )
            )
            return {"kind": "slash_command", "channel": channel_id, "cursor": cursor}
        ts = self._act(
            lambda: self._post(user_id, channel_id, text, thread_ts=thread_ts)
        )
        return {"kind": "message", "channel": channel_id, "ts": ts, "cursor": ts}

    def _react_to(self, body: dict[str, Any]) -> dict[str, Any]:
        ts = _required_text(body, "ts")
        name = _required_text(body, "name").strip(":")
        added = not bool(body.get("remove", False))
        user_id, channel_id = self._resolve(body)
        cursor = self._now()
        self._act(lambda: self._react(user_id, channel_id, ts, name, added=added))
        return {"channel": channel_id, "cursor": cursor}

    def _messages(self, request: Request) -> dict[str, Any]:
        after_text = request.query.get("after", ["0"])[-1]
        after = parse_ts(after_text)
        if after is None:
            raise ControlError(
                400,
                "invalid_ts",
                f"after={after_text!r} is not a Slack timestamp such as "
                "1712345678.000100",
            )
        with self._lock:
            messages = self._messages_after(after)
            cursor = self._workspace.clock.next_ts()
        messages.sort(key=lambda message: parse_ts(message["ts"]) or 0)
        return {"messages": messages, "cursor": cursor}

    # Helpers

    def _messages_after(self, after: int) -> list[dict[str, Any]]:
        """Return every stored and ephemeral message newer than after (µs)."""
        users = self._workspace.users
        found: list[dict[str, Any]] = []
        for channel in self._workspace.channels.values():
            label = f"@{users[channel.im_user].name}" if channel.im_user else ""
            channel_name = label or f"#{channel.name}"
            for message in channel.messages:
                if message.deleted or (parse_ts(message.ts) or 0) <= after:
                    continue
                user = users.get(message.user or "")
                found.append(
                    {
                        "channel": channel.id,
                        "channel_name": channel_name,
                        "ts": message.ts,
                        "thread_ts": message.thread_ts,
                        "user": message.user,
                        "user_name": user.name if user else None,
                        "is_bot": bool(user and user.is_bot),
                        "text": message.text,
                        "ephemeral_to": None,
                    }
                )
            for ephemeral in channel.ephemeral:
                if (parse_ts(ephemeral["ts"]) or 0) <= after:
                    continue
                recipient = users.get(ephemeral["user"])
                found.append(
                    {
                        "channel": channel.id,
                        "channel_name": channel_name,
                        "ts": ephemeral["ts"],
                        "thread_ts": ephemeral.get("thread_ts"),
                        "user": self._workspace.bot.id,
                        "user_name": self._workspace.bot.name,
                        "is_bot": True,
                        "text": ephemeral["text"],
                        "ephemeral_to": recipient.name if recipient else None,
                    }
                )
        return found

    def _resolve(self, body: dict[str, Any]) -> tuple[str, str]:
        """Return the user and channel IDs, joining the user to a public channel.

        Slack's message box lets anyone join a public channel before posting,
        so a person who is not in one joins it here. A private channel still
        needs an invitation, so post_as rejects a non-member there.
        """
        user_name = _required_text(body, "user")
        channel_name = _required_text(body, "channel")
        with self._lock:
            user_id = self._user_id(user_name)
            channel_id = self._channel_id(channel_name)
            channel = self._workspace.channels[channel_id]
            if not channel.is_private and user_id not in channel.members:
                channel.members.append(user_id)
        return user_id, channel_id

    def _user_id(self, name: str) -> str:
        users = self._workspace.users
        if name in users and not users[name].is_bot:
            return name
        handle = name.removeprefix("@")
        for user in users.values():
            if user.name == handle and not user.is_bot:
                return user.id
        known = ", ".join(sorted(u.name for u in users.values() if not u.is_bot))
        raise ControlError(
            404,
            "user_not_found",
            f"no person {name!r} in the sandbox; use one of: {known or 'none'}",
        )

    def _channel_id(self, name: str) -> str:
        channels = self._workspace.channels
        if name in channels:
            return name
        channel = self._workspace.channel_by_name(name.removeprefix("#"))
        if channel is not None:
            return channel.id
        known = ", ".join(
            sorted(f"#{c.name}" for c in channels.values() if not c.is_im)
        )
        raise ControlError(
            404,
            "channel_not_found",
            f"no channel {name!r} in the sandbox; use one of: {known or 'none'}",
        )

    def _now(self) -> str:
        with self._lock:
            return self._workspace.clock.next_ts()

    @staticmethod
    def _act(action: Callable[[], str]) -> str:
        """Run a sandbox action and turn its documented errors into ControlError."""
        try:
            return action()
        except KeyError as error:
            # KeyError's str() adds quotes around the message.
            raise ControlError(404, "not_found", str(error.args[0])) from None
        except ValueError as error:
            raise ControlError(400, "invalid_request", str(error)) from None
        except RuntimeError as error:
            raise ControlError(
                409,
                "no_client",
                f"{error}. Start the bot with SLACK_API_URL pointing at this "
                "sandbox and wait until it has connected.",
            ) from None


def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json_body()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ControlError(
            400, "invalid_json", "the request body must be a JSON object"
        )
    return body


def _required_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ControlError(
            400, "missing_argument", f"{name!r} is missing or empty in the request"
        )
    return value


def _ok(result: dict[str, Any]) -> Response:
    return Response(200, {"ok": True, **result})
