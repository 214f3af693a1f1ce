"""docs/slack-app-manifest.yml against what the bot calls, receives and offers.

METHOD_SCOPES is the bot token scope each Web API method of the bot needs,
taken from the method's page in Slack's API reference. Where Slack accepts
one scope per conversation type (channels:* for public channels, groups:*
for private ones, im:* for direct messages, mpim:* for group direct
messages), the table lists the types the bot uses: it creates public or
private incident channels and replies in direct messages, and it joins no group
direct message. A short run of the bot against the Slack sandbox checks that
every method it calls is in the table.
"""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import BOT_SCOPES, SlackSandbox
from tests.slack_bot import (
    ALICE,
    bot_posts,
    declare,
    status_posts,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "docs" / "slack-app-manifest.yml"
SETTINGS = ROOT / "settings.example.toml"
METHODS_PAGE = "https://docs.slack.dev/reference/methods/"
EVENTS_PAGE = "https://docs.slack.dev/reference/events/"


@dataclass(frozen=True)
class Needs:
    """The bot token scopes one method or event needs, and Slack's page on it."""

    scopes: tuple[str, ...]
    page: str


def method(name: str, *scopes: str) -> Needs:
    return Needs(scopes, METHODS_PAGE + name)


def event(name: str, *scopes: str) -> Needs:
    return Needs(scopes, EVENTS_PAGE + name)


METHOD_SCOPES: dict[str, Needs] = {
    # auth.test and chat.getPermalink need no scope.
    "auth.test": method("auth.test"),
    "bookmarks.add": method("bookmarks.add", "bookmarks:write"),
    "bots.info": method("bots.info", "users:read"),
    "chat.getPermalink": method("chat.getPermalink"),
    "chat.postEphemeral": method("chat.postEphemeral", "chat:write"),
    "chat.postMessage": method("chat.postMessage", "chat:write"),
    "chat.update": method("chat.update", "chat:write"),
    "conversations.create": method(
        "conversations.create", "channels:manage", "groups:write"
    ),
    "conversations.history": method(
        "conversations.history", "channels:history", "groups:history", "im:history"
    ),
    "conversations.info": method(
        "conversations.info", "channels:read", "groups:read", "im:read"
    ),
    "conversations.invite": method(
        "conversations.invite", "channels:manage", "groups:write"
    ),
    "conversations.join": method("conversations.join", "channels:join"),
    # errbot-backend-slackv3 0.3.2 requests the types
    # public_channel,private_channel,mpim,im in one call, and Slack rejects a
    # type whose scope the token lacks with missing_scope.
    "conversations.list": method(
        "conversations.list", "channels:read", "groups:read", "im:read", "mpim:read"
    ),
    "conversations.open": method("conversations.open", "im:write"),
    "conversations.replies": method(
        "conversations.replies", "channels:history", "groups:history", "im:history"
    ),
    "conversations.setTopic": method(
        "conversations.setTopic", "channels:manage", "groups:write"
    ),
    "reactions.add": method("reactions.add", "reactions:write"),
    "team.info": method("team.info", "team:read"),
    "usergroups.list": method("usergroups.list", "usergroups:read"),
    "usergroups.users.list": method("usergroups.users.list", "usergroups:read"),
    "users.info": method("users.info", "users:read"),
    "users.list": method("users.list", "users:read"),
}

EVENT_SCOPES: dict[str, Needs] = {
    "message.channels": event("message.channels", "channels:history"),
    "message.groups": event("message.groups", "groups:history"),
    "message.im": event("message.im", "im:history"),
    "reaction_added": event("reaction_added", "reactions:read"),
    "reaction_removed": event("reaction_removed", "reactions:read"),
}

# Slash commands need the commands scope.
SLASH_COMMAND_SCOPE = "commands"
SLASH_COMMANDS = {"/incident", "/inc", "/pd"}
# Socket Mode's apps.connections.open takes the app-level token, whose scope
# connections:write is set when the token is made, not in the manifest.
APP_TOKEN_METHODS = {"apps.connections.open"}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


def bot_scopes(manifest: dict[str, Any]) -> list[str]:
    scopes: list[str] = manifest["oauth_config"]["scopes"]["bot"]
    return scopes


def test_bot_calls_only_methods_with_scopes(
    bot: Any,
    slack: SlackSandbox,
    gitlab_sandbox: GitLabSandbox,
    manifest: dict[str, Any],
) -> None:
    # A short incident: declare, a message pinned with a reaction, a status
    # update and a slash command in the incident channel.
    declare(slack)
    channel = slack.calls_to("conversations.invite")[0]["channel"]
    ts = slack.post_as(ALICE, channel, "Rolled back the 14:05 deploy")
    # The plugin copies the text it stored when the message arrived.
    time.sleep(0.5)
    slack.react_as(ALICE, channel, ts, "pushpin")
    wait_until(lambda: gitlab_sandbox.issue("infra/production", 1)["notes"])
    slack.post_as(ALICE, channel, "!incident update Errors are falling")
    wait_until(lambda: status_posts(slack, channel))
    posts_before = len(bot_posts(slack, channel))
    slack.deliver_slash_command("/inc", "status", ALICE, channel)
    wait_until(
        lambda: (
            len(bot_posts(slack, channel)) > posts_before
            or slack.ephemeral_messages(channel)
        )
    )

    called = {name for name, _ in slack.calls} - APP_TOKEN_METHODS
    scopes = set(bot_scopes(manifest))

    assert slack.unknown_methods == []
    assert called - set(METHOD_SCOPES) == set(), (
        "add these methods, with the scope Slack's page names, to METHOD_SCOPES"
    )
    for name in sorted(called):
        missing = set(METHOD_SCOPES[name].scopes) - scopes
        assert missing == set(), f"{name} needs {missing}, missing in {MANIFEST}"


def test_manifest_has_every_needed_scope(manifest: dict[str, Any]) -> None:
    scopes = set(bot_scopes(manifest))

    for name, needs in {**METHOD_SCOPES, **EVENT_SCOPES}.items():
        missing = set(needs.scopes) - scopes
        assert missing == set(), f"{name} ({needs.page}) needs {missing}"
    assert SLASH_COMMAND_SCOPE in scopes


def test_manifest_has_no_unused_scope(manifest: dict[str, Any]) -> None:
    scopes = bot_scopes(manifest)
    used = {SLASH_COMMAND_SCOPE}
    for needs in (*METHOD_SCOPES.values(), *EVENT_SCOPES.values()):
        used.update(needs.scopes)

    assert len(scopes) == len(set(scopes)), "a scope is listed twice"
    assert set(scopes) - used == set()


def test_manifest_events_and_commands(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    commands = {entry["command"] for entry in manifest["features"]["slash_commands"]}

    assert set(settings["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)
    assert commands == SLASH_COMMANDS
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is False
    for entry in manifest["features"]["slash_commands"]:
        assert "url" not in entry, "Socket Mode delivers slash commands, no URL"


def test_manifest_commands_match_example_settings(manifest: dict[str, Any]) -> None:
    # The bot runs only the slash commands listed under [slack] slash_commands.
    settings = tomllib.loads(SETTINGS.read_text(encoding="utf-8"))
    commands = {entry["command"] for entry in manifest["features"]["slash_commands"]}

    assert set(settings["slack"]["slash_commands"]) == commands


def test_sandbox_reports_manifest_scopes(manifest: dict[str, Any]) -> None:
    assert BOT_SCOPES.split(",") == sorted(bot_scopes(manifest))
