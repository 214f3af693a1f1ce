"""The incident bot on the IncidentSlack backend, with the Slack and GitLab sandboxes.

Errbot runs in a daemon thread as `errbot` would run it, with the backend from
backends/incident_slack, and talks to the sandboxes on 127.0.0.1 only. The
fixtures here (hosts, slack, data_dir, bot) are registered in conftest.py;
the functions are helpers for tests that drive the bot through Slack events.
"""

from __future__ import annotations

import importlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from errbot.backends.test import ShallowConfig
from errbot.bootstrap import setup_bot
from slack_sdk import WebClient

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox

ROOT = Path(__file__).resolve().parents[1]

ALICE = "U0ALICE001"
INCIDENTS = "C0INC00042"
DECLARE = "!incident declare S2 Checkout errors"
LOOPBACK = "127.0.0.1"


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every host name that any code in the process resolves."""
    contacted: list[str] = []
    resolve = socket.getaddrinfo

    def recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        contacted.append(str(host))
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    return contacted


@pytest.fixture
def slack(hosts: list[str]) -> Iterator[SlackSandbox]:
    sandbox = SlackSandbox()
    sandbox.start()
    sandbox.add_user(ALICE, "alice", real_name="Alice Archer")
    sandbox.add_channel(INCIDENTS, "incidents", members=[sandbox.bot_user_id, ALICE])
    yield sandbox
    sandbox.stop()


def slack_bot_config(
    slack: SlackSandbox,
    gitlab: GitLabSandbox,
    data_dir: Path,
    overrides: dict[str, Any] | None = None,
) -> ShallowConfig:
    """Return Errbot's config for the sandboxes; overrides replace settings."""
    config = ShallowConfig()
    config.__dict__.update(importlib.import_module("errbot.config-template").__dict__)
    settings = {
        "BACKEND": "IncidentSlack",
        "BOT_EXTRA_BACKEND_DIR": str(ROOT / "backends"),
        "BOT_EXTRA_PLUGIN_DIR": str(ROOT / "plugins"),
        "BOT_EXTRA_STORAGE_PLUGINS_DIR": str(ROOT / "storage"),
        "STORAGE": "SQLite",
        "BOT_DATA_DIR": str(data_dir),
        "BOT_LOG_FILE": str(data_dir / "errbot.log"),
        "BOT_LOG_LEVEL": logging.INFO,
        "BOT_IDENTITY": {"token": slack.bot_token, "app_token": slack.app_token},
        "SLACK_API_URL": slack.api_url,
        "BOT_ADMINS": (ALICE,),
        "BOT_PREFIX": "!",
        "BOT_ALT_PREFIXES": (),
        "CHATROOM_PRESENCE": (),
        "AUTOINSTALL_DEPS": False,
        "BOT_PLUGIN_INDEXES": (),
        "CORE_PLUGINS": ("ACLs", "CommandNotFoundFilter", "Help", "Plugins", "Utils"),
        "GITLAB_URL": gitlab.url,
        "GITLAB_TOKEN": gitlab.token,
        "INCIDENT_SETTINGS": str(ROOT / "settings.example.toml"),
    }
    settings.update(overrides or {})
    config.__dict__.update(settings)
    return config


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def bot(
    slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, data_dir: Path
) -> Iterator[Any]:
    """Start Errbot on the IncidentSlack backend and stop it after the test."""
    instance, thread = start_slack_bot(slack, gitlab_sandbox, data_dir)
    yield instance
    stop_slack_bot(instance, thread)


def start_slack_bot(
    slack: SlackSandbox,
    gitlab: GitLabSandbox,
    data_dir: Path,
    connections: int = 1,
    overrides: dict[str, Any] | None = None,
) -> tuple[Any, threading.Thread]:
    """Start Errbot in a thread and wait until its plugins are active.

    connections is the number of Socket Mode connections the sandbox has
    seen once this bot is connected, so a restarted bot passes 2.
    overrides replace entries of the Errbot config (see slack_bot_config).
    """
    config = slack_bot_config(slack, gitlab, data_dir, overrides)
    instance = setup_bot("IncidentSlack", logging.getLogger("errbot"), config)
    thread = threading.Thread(
        target=instance.serve_forever, name="IncidentSlack bot", daemon=True
    )
    thread.start()
    slack.wait_for_connection(timeout=10, total=connections)
    wait_until(lambda: plugins_activated(instance))
    return instance, thread


def stop_slack_bot(instance: Any, thread: threading.Thread) -> None:
    """Stop a bot started by start_slack_bot, and fail if it does not stop."""
    instance.stop()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the bot thread did not stop within 10 s"
    instance.thread_pool.close()
    instance.thread_pool.join()


def plugins_activated(instance: Any) -> bool:
    """Return True once the backend has handled Slack's hello frame.

    The hello handler activates every plugin and then removes itself.
    """
    client = instance.slack_socket_mode
    return client is not None and (
        instance._sm_handle_hello not in client.message_listeners
    )


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll a condition until it returns a true value, and return that value.

    Raises AssertionError after timeout seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def bot_posts(slack: SlackSandbox, channel: str = INCIDENTS) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m["user"] == slack.bot_user_id]


def wait_for_posts(slack: SlackSandbox, count: int) -> list[dict[str, Any]]:
    """Wait until the bot has posted `count` messages in the incident channel."""
    wait_until(lambda: len(bot_posts(slack)) >= count)
    return bot_posts(slack)


def declare(slack: SlackSandbox) -> dict[str, Any]:
    """Declare an incident in the channel and return the bot's reply."""
    slack.post_as(ALICE, INCIDENTS, DECLARE)
    return wait_until(lambda: next(iter(declared_posts(slack)), None))


def incident_channel(slack: SlackSandbox, name: str = "inc-1") -> str:
    """Return the id of the channel the bot created for an incident."""
    web = WebClient(token=slack.bot_token, base_url=slack.api_url)
    for channel in web.conversations_list(types="public_channel")["channels"]:
        if channel["name"] == name:
            return str(channel["id"])
    raise AssertionError(f"the bot created no channel #{name}")


def assert_local_only(slack: SlackSandbox, hosts: list[str]) -> None:
    assert slack.unknown_methods == []
    assert set(hosts) <= {LOOPBACK, "localhost"}, hosts


def declared_posts(slack: SlackSandbox) -> list[dict[str, Any]]:
    return [m for m in bot_posts(slack) if m["text"].startswith("Declared")]


def status_posts(slack: SlackSandbox, channel: str) -> list[dict[str, Any]]:
    return [m for m in bot_posts(slack, channel) if "Status update" in m["text"]]


def envelope_of(slack: SlackSandbox, ts: str) -> dict[str, Any]:
    """Return the events_api envelope that delivered the message with this ts."""
    for envelope in slack.envelopes:
        event = envelope["payload"].get("event", {})
        if envelope["type"] == "events_api" and event.get("ts") == ts:
            return envelope
    raise AssertionError(f"no envelope delivered message {ts}")


def settle(slack: SlackSandbox, envelope_id: str) -> None:
    """Wait for an envelope's acknowledgement and for any work it started."""
    slack.wait_for_ack(envelope_id)
    time.sleep(1.0)


def update_event(channel: str, ts: str, text: str) -> dict[str, Any]:
    """Build the message event of Alice posting text, as Slack delivers it."""
    return {
        "type": "message",
        "channel": channel,
        "user": ALICE,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def notes(gitlab: GitLabSandbox) -> list[dict[str, Any]]:
    return list(gitlab.issue("infra/production", 1)["notes"])


BOB = "U0BOB00002"


def said(user: str, ts: str, text: str, channel: str = INCIDENTS) -> dict[str, Any]:
    """Build the message event of a person posting text, as Slack delivers it."""
    return {"type": "message", "channel": channel, "user": user, "ts": ts, "text": text}


def changed(ts: str, at: str, text: str, previous: str, **extra: Any) -> dict:
    """Build the message_changed event of bob's message ts in the incidents channel.

    extra goes into the changed message: "edited" for someone's edit,
    "attachments" for a link preview.
    """
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": INCIDENTS,
        "ts": at,
        "message": {"type": "message", "user": BOB, "ts": ts, "text": text, **extra},
        "previous_message": {
            "type": "message",
            "user": BOB,
            "ts": ts,
            "text": previous,
        },
    }


def deliver(slack: SlackSandbox, event: dict[str, Any], **envelope: Any) -> None:
    """Deliver an event over Socket Mode and wait until the bot handled it."""
    settle(slack, slack.deliver_event(event, **envelope))
