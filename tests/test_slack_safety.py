"""Mistakes people make in Slack that must not leak, ping or change the wrong thing.

Errbot runs on the IncidentSlack backend against the Slack and GitLab
sandboxes, as in tests/test_slack_end_to_end.py.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox
from tests.slack_bot import (
    ALICE,
    INCIDENTS,
    bot_posts,
    declare,
    incident_channel,
    notes,
    settle,
    status_posts,
    wait_until,
)


def reply_to(slack: SlackSandbox, channel: str, text: str) -> str:
    """Post text as Alice and return the first thing the bot shows in reply."""
    posted = len(bot_posts(slack, channel))
    ephemeral_before = len(slack.ephemeral_messages(channel))
    slack.post_as(ALICE, channel, text)
    return str(
        wait_until(
            lambda: (
                (bot_posts(slack, channel)[posted:] or [None])[0]
                or (slack.ephemeral_messages(channel)[ephemeral_before:] or [None])[0]
            )
        )["text"]
    )


def test_attach_hides_confidential_title(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    reply_to(slack, INCIDENTS, "!incident declare S1 --confidential Payroll leak")
    url = gitlab_sandbox.issue("infra/production", 1)["web_url"]

    reply = reply_to(slack, INCIDENTS, f"!incident attach <{url}>")

    assert "Payroll leak" not in reply


def test_misspelt_confidential_flag_rejected(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    # Smart punctuation on phones turns "--" into an em dash.
    reply = reply_to(
        slack, INCIDENTS, "!incident declare S1 —confidential Payroll leak"
    )

    assert gitlab_sandbox.issues("infra/production") == []
    assert "Payroll leak" not in reply


def test_status_echo_keeps_asterisks(bot: Any, slack: SlackSandbox) -> None:
    declare(slack)
    channel = incident_channel(slack)

    slack.post_as(ALICE, channel, "!incident update Cleared /tmp/*.log and /var/*.txt")
    echo = wait_until(lambda: status_posts(slack, channel))[0]["text"]

    assert "Cleared /tmp/*.log and /var/*.txt" in echo


def test_labelled_link_keeps_url(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)

    slack.post_as(
        ALICE,
        channel,
        "!incident update Rolling back per <https://runbooks.example.com/db|runbook>",
    )
    wait_until(lambda: status_posts(slack, channel))

    assert "https://runbooks.example.com/db" in notes(gitlab_sandbox)[-1]["body"]


def test_unknown_reference_rejected(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)

    reply = reply_to(slack, channel, "!incident mitigate infra/production#99")

    assert "No incident infra/production#99" in reply
    assert "Incident::Active" in gitlab_sandbox.issue("infra/production", 1)["labels"]


def test_app_message_runs_nothing(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)

    envelope = slack.deliver_event(
        {
            "type": "message",
            "subtype": "bot_message",
            "channel": channel,
            "bot_id": "B0OTHER001",
            "username": "Workflow",
            "ts": "1796500003.000100",
            "text": "!incident resolve --force",
        }
    )
    settle(slack, envelope)

    assert gitlab_sandbox.issue("infra/production", 1)["state"] == "opened"


def test_role_unknown_person_rejected(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)

    reply = reply_to(slack, channel, "!incident role lead @bobb")

    assert "bobb is now lead" not in reply
