"""Slash commands on the IncidentSlack backend: names from the settings, replies.

Errbot runs the real backend against the Slack emulator, with the sandbox
GitLab behind it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox
from tests.slack_bot import (
    ALICE,
    INCIDENTS,
    ROOT,
    bot_posts,
    declare,
    declared_posts,
    incident_channel,
    start_slack_bot,
    stop_slack_bot,
    wait_until,
)

BOB = "U0BOB00002"


def ephemeral(slack: SlackSandbox, channel: str = INCIDENTS) -> list[dict[str, Any]]:
    return slack.ephemeral_messages(channel)


def wait_for_ephemeral(
    slack: SlackSandbox, channel: str = INCIDENTS
) -> list[dict[str, Any]]:
    return list(wait_until(lambda: ephemeral(slack, channel)))


def test_error_is_shown_to_its_author_only(bot: Any, slack: SlackSandbox) -> None:
    slack.deliver_slash_command("/incident", "update Rolled back", ALICE, INCIDENTS)

    shown = wait_for_ephemeral(slack)

    assert len(shown) == 1
    assert shown[0]["user"] == ALICE
    assert "This channel has no incident" in shown[0]["text"]
    time.sleep(0.5)
    assert bot_posts(slack) == []


def test_help_is_shown_to_its_author_only(bot: Any, slack: SlackSandbox) -> None:
    slack.deliver_slash_command("/inc", "help", ALICE, INCIDENTS)

    shown = wait_for_ephemeral(slack)

    assert shown[0]["user"] == ALICE
    assert "!incident declare [S1-S4]" in shown[0]["text"]
    assert bot_posts(slack) == []


def test_success_is_posted_in_the_channel(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)

    slack.deliver_slash_command("/inc", "update Rolled back the deploy", ALICE, channel)

    posts = wait_until(
        lambda: [
            p for p in bot_posts(slack, channel) if "Status update for" in p["text"]
        ]
    )
    assert "Status update for infra/production#1" in posts[0]["text"]
    assert "Rolled back the deploy" in posts[0]["text"]
    assert ephemeral(slack, channel) == []
    notes = gitlab_sandbox.issue("infra/production", 1)["notes"]
    assert any("Rolled back the deploy" in note["body"] for note in notes)


def test_same_command_typed_is_posted_in_the_channel(
    bot: Any, slack: SlackSandbox
) -> None:
    # A typed command is visible to everyone, so its error is too.
    slack.post_as(ALICE, INCIDENTS, "!incident update Rolled back")

    posts = wait_until(lambda: bot_posts(slack))

    assert "This channel has no incident" in posts[0]["text"]
    assert ephemeral(slack) == []


def test_pd_slash_runs_pd_command(bot: Any, slack: SlackSandbox) -> None:
    slack.deliver_slash_command(
        "/pd", "trigger liaison Database down", ALICE, INCIDENTS
    )

    shown = wait_for_ephemeral(slack)

    # #incidents runs no incident, so the escalation plugin requests one.
    assert shown[0]["text"] == (
        "This channel has no incident. Run the command in the incident's "
        "channel, or name the incident first, for example `incident status "
        "infra/production#12`."
    )
    assert bot_posts(slack) == []


def test_unmapped_slash_command_is_explained(bot: Any, slack: SlackSandbox) -> None:
    envelope = slack.deliver_slash_command("/deploy", "now", ALICE, INCIDENTS)

    assert slack.wait_for_ack(envelope) < 1.0
    shown = wait_for_ephemeral(slack)
    assert shown[0]["text"] == (
        "/deploy is not one of the bot's slash commands (/inc, /incident, /pd). "
        "Add it under [slack] slash_commands in the bot's settings, or remove it "
        "from the Slack app."
    )
    assert bot_posts(slack) == []


def renamed_settings(tmp_path: Path) -> Path:
    text = (ROOT / "settings.example.toml").read_text(encoding="utf-8")
    text = text.replace('"/incident" = "incident"', '"/sre-incident" = "incident"')
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_renamed_slash_command(
    slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, data_dir: Path, tmp_path: Path
) -> None:
    settings = {"INCIDENT_SETTINGS": str(renamed_settings(tmp_path))}
    instance, thread = start_slack_bot(
        slack, gitlab_sandbox, data_dir, overrides=settings
    )
    try:
        slack.deliver_slash_command(
            "/sre-incident", "declare S3 Search is slow", ALICE, INCIDENTS
        )
        reply = wait_until(lambda: declared_posts(slack))[0]
        slack.deliver_slash_command("/incident", "list", ALICE, INCIDENTS)
        shown = wait_for_ephemeral(slack)
    finally:
        stop_slack_bot(instance, thread)

    assert "Search is slow" in reply["text"]
    assert gitlab_sandbox.issue("infra/production", 1)["title"] == "Search is slow"
    assert shown[0]["text"].startswith("/incident is not one of the bot's slash")


def test_reply_where_bot_is_no_member(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    slack.add_channel("C0RANDOM01", "random", members=[ALICE])

    envelope = slack.deliver_slash_command(
        "/incident", "declare S3 Search is slow", ALICE, "C0RANDOM01"
    )

    responses = wait_until(lambda: slack.responses)
    assert responses[0]["envelope_id"] == envelope
    assert responses[0]["body"]["response_type"] == "in_channel"
    assert "Declared S3 incident infra/production#1" in responses[0]["body"]["text"]
    assert gitlab_sandbox.issue("infra/production", 1)["title"] == "Search is slow"


def test_error_where_bot_is_no_member(bot: Any, slack: SlackSandbox) -> None:
    slack.add_channel("C0RANDOM01", "random", members=[ALICE])

    slack.deliver_slash_command("/inc", "mitigate", ALICE, "C0RANDOM01")

    responses = wait_until(lambda: slack.responses)
    assert responses[0]["body"]["response_type"] == "ephemeral"
    assert "This channel has no incident" in responses[0]["body"]["text"]
    assert slack.ephemeral_messages("C0RANDOM01") == []
