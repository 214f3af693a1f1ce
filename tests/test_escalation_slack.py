"""Paging through the real Slack backend: slash commands, checklist, group mention.

Errbot runs the IncidentSlack backend against the Slack emulator, the GitLab
sandbox and the PagerDuty emulator with the demo account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.slack import SlackSandbox
from tests.replay_pages import pagerduty_config
from tests.slack_bot import (
    ALICE,
    INCIDENTS,
    assert_local_only,
    bot_posts,
    incident_channel,
    start_slack_bot,
    stop_slack_bot,
    wait_until,
)

REF = "infra/production#1"


@pytest.fixture
def paging_bot(
    slack: SlackSandbox,
    gitlab_sandbox: GitLabSandbox,
    pagerduty_sandbox: PagerDutySandbox,
    data_dir: Path,
) -> Iterator[Any]:
    paging = pagerduty_config(pagerduty_sandbox)
    instance, thread = start_slack_bot(
        slack, gitlab_sandbox, data_dir, overrides=paging
    )
    yield instance
    stop_slack_bot(instance, thread)


def declare_s1(slack: SlackSandbox) -> str:
    """Declare an S1 in #incidents and return the incident channel's id."""
    slack.post_as(ALICE, INCIDENTS, "!incident declare S1 Checkout errors")
    wait_until(lambda: any("Declared S1" in p["text"] for p in bot_posts(slack)))
    return incident_channel(slack)


def posts_containing(slack: SlackSandbox, channel: str, text: str) -> list[str]:
    return [p["text"] for p in bot_posts(slack, channel) if text in p["text"]]


def test_s1_checklist_goes_to_incident_channel(
    paging_bot: Any, slack: SlackSandbox, pagerduty_sandbox: PagerDutySandbox
) -> None:
    channel = declare_s1(slack)

    checklists = wait_until(
        lambda: posts_containing(slack, channel, f"IMOC checklist of {REF}")
    )

    assert len(checklists) == 1
    assert posts_containing(slack, INCIDENTS, "IMOC checklist") == []
    declared = posts_containing(slack, INCIDENTS, "Declared S1")[0]
    assert f"Paged Incident Manager On Call for {REF}: PagerDuty incident #1" in (
        declared
    )
    assert len(pagerduty_sandbox.incidents()) == 1


def test_pd_slash_command_pages_from_incident_channel(
    paging_bot: Any,
    slack: SlackSandbox,
    pagerduty_sandbox: PagerDutySandbox,
    hosts: list[str],
) -> None:
    channel = declare_s1(slack)

    slack.deliver_slash_command(
        "/pd", "trigger cmoc Please post to the status page", ALICE, channel
    )
    replies = wait_until(
        lambda: posts_containing(slack, channel, "Communications Manager On Call")
    )

    assert replies == [
        f"Paged Communications Manager On Call for {REF}: PagerDuty incident #2 "
        f"is open. {pagerduty_sandbox.incidents()[1]['html_url']}"
    ]
    keys = [incident["incident_key"] for incident in pagerduty_sandbox.incidents()]
    assert keys == [f"{REF}:imoc", f"{REF}:cmoc"]
    assert_local_only(slack, hosts)


def test_engage_mentions_group_and_escapes_message(
    paging_bot: Any, slack: SlackSandbox
) -> None:
    channel = declare_s1(slack)

    slack.post_as(
        ALICE, channel, "!incident engage release-managers <!channel> hold deploys"
    )
    posts = wait_until(lambda: posts_containing(slack, channel, "you are engaged"))

    assert len(posts) == 1
    assert posts[0].startswith("<!subteam^S0RELMGRS> you are engaged in ")
    # Slack's <!channel> reads as @channel, and the word joiner after the @
    # keeps it from notifying the channel.
    assert "@\u2060channel hold deploys" in posts[0]
    assert "<!channel>" not in posts[0]
