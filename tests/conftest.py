"""Shared fixtures: the sandbox GitLab and a real Errbot running the plugins."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from errbot.backends.test import TestBot

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import API_KEY, add_demo_account
from tests.chat import Chat
from tests.replay_pages import pagerduty_config

ROOT = Path(__file__).resolve().parents[1]

# The Slack fixtures: hosts, slack, data_dir and bot (Errbot on IncidentSlack).
pytest_plugins = ["tests.slack_bot"]


@pytest.fixture
def gitlab_sandbox() -> Iterator[GitLabSandbox]:
    server = GitLabSandbox()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bot_config(gitlab_sandbox: GitLabSandbox, tmp_path: Path) -> dict[str, Any]:
    """Errbot settings for a bot on the sandbox, with Slack's text conventions."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return {
        "GITLAB_URL": gitlab_sandbox.url,
        "GITLAB_TOKEN": gitlab_sandbox.token,
        "INCIDENT_SETTINGS": str(ROOT / "settings.example.toml"),
        "INCIDENT_CHAT_MARKUP": "slack",
        "BOT_EXTRA_STORAGE_PLUGINS_DIR": str(ROOT / "storage"),
        "STORAGE": "SQLite",
        "BOT_DATA_DIR": str(data_dir),
    }


BotFactory = Callable[[], TestBot]


@pytest.fixture
def start_bot(bot_config: dict[str, Any]) -> Iterator[BotFactory]:
    """Return a function that starts the bot; a second call is a restart."""
    running: list[TestBot] = []

    def start() -> TestBot:
        for bot in running:
            if bot.bot_thread is not None:
                bot.stop()
        bot = TestBot(
            extra_plugin_dir=str(ROOT / "plugins"),
            loglevel=logging.INFO,
            extra_config=dict(bot_config),
        )
        bot.start(timeout=10)
        running.append(bot)
        return bot

    yield start
    for bot in running:
        if bot.bot_thread is not None:
            bot.stop()


@pytest.fixture
def chat(start_bot: BotFactory) -> Chat:
    return Chat(start_bot())


@pytest.fixture
def pagerduty_sandbox() -> Iterator[PagerDutySandbox]:
    """The PagerDuty emulator over HTTPS with the demo account of `make run`."""
    server = PagerDutySandbox(tls=True, api_key=API_KEY)
    server.start()
    add_demo_account(server)
    yield server
    server.stop()


@pytest.fixture
def paging_config(
    bot_config: dict[str, Any], pagerduty_sandbox: PagerDutySandbox
) -> dict[str, Any]:
    """bot_config with PagerDuty set up; bots started after this can page."""
    bot_config.update(pagerduty_config(pagerduty_sandbox))
    return bot_config


@pytest.fixture
def paging_chat(paging_config: dict[str, Any], start_bot: BotFactory) -> Chat:
    return Chat(start_bot())


@pytest.fixture
def s3_incident(paging_chat: Chat) -> Chat:
    """paging_chat with an S3 incident that alice declared at 10:00 UTC.

    S3 does not page the IMOC, so the PagerDuty emulator starts empty.
    """
    paging_chat.at("2025-06-06T10:00:00Z")
    reply = paging_chat.command("alice", "incident declare S3 Checkout errors")
    assert reply.startswith("Declared S3 incident infra/production#1"), reply
    return paging_chat
