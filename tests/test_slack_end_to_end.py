"""The incident bot on the IncidentSlack backend with the Slack and GitLab sandboxes."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox
from tests.slack_bot import (
    ALICE,
    DECLARE,
    INCIDENTS,
    assert_local_only,
    bot_posts,
    declare,
    declared_posts,
    envelope_of,
    incident_channel,
    notes,
    settle,
    start_slack_bot,
    status_posts,
    stop_slack_bot,
    update_event,
    wait_for_posts,
    wait_until,
)

# Start and first command


def test_declare_replies_in_channel(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, hosts: list[str]
) -> None:
    reply = declare(slack)

    issue = gitlab_sandbox.issue("infra/production", 1)
    assert issue["web_url"] in reply["text"]
    assert "could not be created" not in reply["text"]
    assert "Checkout errors" in issue["title"]
    assert_local_only(slack, hosts)
    assert slack.calls_to("auth.test")


def test_declare_creates_incident_channel(bot: Any, slack: SlackSandbox) -> None:
    declare(slack)
    channel = incident_channel(slack)

    invites = slack.calls_to("conversations.invite")
    assert [call["channel"] for call in invites] == [channel]
    assert invites[0]["users"] == ALICE
    slack.post_as(ALICE, channel, "!incident status")
    # The first post in the channel is the status card, so the reply is the second.
    assert wait_until(lambda: len(bot_posts(slack, channel)) >= 2)


# Repeated deliveries


def test_redelivered_event_runs_once(
    bot: Any,
    slack: SlackSandbox,
    gitlab_sandbox: GitLabSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, DECLARE)
    wait_for_posts(slack, 1)
    payload = envelope_of(slack, ts)["payload"]

    caplog.set_level(logging.INFO)
    retry = slack.deliver_event(
        payload["event"], event_id=payload["event_id"], retry_attempt=1
    )
    settle(slack, retry)

    assert len(declared_posts(slack)) == 1
    assert "Dropping repeated delivery of event" in caplog.text
    with pytest.raises(KeyError):
        gitlab_sandbox.issue("infra/production", 2)


def test_redelivery_after_restart_runs_once(
    slack: SlackSandbox,
    gitlab_sandbox: GitLabSandbox,
    data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, thread = start_slack_bot(slack, gitlab_sandbox, data_dir)
    try:
        declare(slack)
        channel = incident_channel(slack)
        ts = slack.post_as(ALICE, channel, "!incident update Rolling back the deploy")
        wait_until(lambda: status_posts(slack, channel))
        payload = envelope_of(slack, ts)["payload"]
        notes_before = len(notes(gitlab_sandbox))
    finally:
        stop_slack_bot(first, thread)

    second, thread = start_slack_bot(slack, gitlab_sandbox, data_dir, connections=2)
    caplog.set_level(logging.INFO)
    try:
        retry = slack.deliver_event(
            payload["event"], event_id=payload["event_id"], retry_attempt=1
        )
        settle(slack, retry)
    finally:
        stop_slack_bot(second, thread)

    assert len(status_posts(slack, channel)) == 1
    assert len(notes(gitlab_sandbox)) == notes_before
    # The plugin drops a repeated command message by its ts too, so the
    # backend's own drop shows only in its log.
    assert f"Dropping repeated delivery of event:{payload['event_id']}" in caplog.text


def test_slash_command_after_restart_runs_once(
    slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, data_dir: Path
) -> None:
    first, thread = start_slack_bot(slack, gitlab_sandbox, data_dir)
    try:
        declare(slack)
        channel = incident_channel(slack)
        notes_before = len(notes(gitlab_sandbox))
        envelope = slack.deliver_slash_command(
            "/inc", "update Rolling back", ALICE, channel, trigger_id="1.2.abc"
        )
        wait_until(lambda: status_posts(slack, channel))
        settle(slack, envelope)
    finally:
        stop_slack_bot(first, thread)

    second, thread = start_slack_bot(slack, gitlab_sandbox, data_dir, connections=2)
    try:
        repeat = slack.deliver_slash_command(
            "/inc", "update Rolling back", ALICE, channel, trigger_id="1.2.abc"
        )
        settle(slack, repeat)
    finally:
        stop_slack_bot(second, thread)

    assert len(status_posts(slack, channel)) == 1
    assert len(notes(gitlab_sandbox)) == notes_before + 1


def test_unhandled_retry_after_restart_runs(
    slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, data_dir: Path
) -> None:
    first, thread = start_slack_bot(slack, gitlab_sandbox, data_dir)
    try:
        declare(slack)
        channel = incident_channel(slack)
        notes_before = len(notes(gitlab_sandbox))
    finally:
        stop_slack_bot(first, thread)

    # Slack sent the first delivery while the bot was down, so the bot's
    # first sight of this event is Slack's retry.
    event = update_event(channel, "1733301000.000700", "!incident update Failed over")
    second, thread = start_slack_bot(slack, gitlab_sandbox, data_dir, connections=2)
    try:
        retry = slack.deliver_event(event, event_id="Ev0UNSEEN01", retry_attempt=1)
        slack.wait_for_ack(retry)
        wait_until(lambda: status_posts(slack, channel))
    finally:
        stop_slack_bot(second, thread)

    assert len(status_posts(slack, channel)) == 1
    assert len(notes(gitlab_sandbox)) == notes_before + 1
    assert "Failed over" in notes(gitlab_sandbox)[-1]["body"]


def test_repeated_slash_command_runs_once(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    first = slack.deliver_slash_command(
        "/inc", "declare S2 Checkout errors", ALICE, INCIDENTS, trigger_id="1.2.abc"
    )
    wait_until(lambda: declared_posts(slack))
    repeat = slack.deliver_slash_command(
        "/inc", "declare S2 Checkout errors", ALICE, INCIDENTS, trigger_id="1.2.abc"
    )
    settle(slack, repeat)

    assert slack.wait_for_ack(first) < 1.0
    assert len(declared_posts(slack)) == 1
    with pytest.raises(KeyError):
        gitlab_sandbox.issue("infra/production", 2)


def test_edited_command_does_not_rerun(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    ts = slack.post_as(ALICE, channel, "!incident update Rolling back the deploy")
    wait_until(lambda: status_posts(slack, channel))
    notes_before = len(gitlab_sandbox.issue("infra/production", 1)["notes"])

    edit = slack.edit_as(ALICE, channel, ts, "!incident update Rolled back")
    settle(slack, edit)

    assert len(status_posts(slack, channel)) == 1
    assert len(gitlab_sandbox.issue("infra/production", 1)["notes"]) == notes_before


def test_link_preview_edit_is_ignored(bot: Any, slack: SlackSandbox) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, "see https://status.example.org")
    preview = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": INCIDENTS,
        "ts": "1733301000.000900",
        "event_ts": "1733301000.000900",
        "message": {
            "type": "message",
            "user": ALICE,
            "text": DECLARE,
            "ts": ts,
            "attachments": [{"title": "Status", "from_url": "https://example.org"}],
        },
        "previous_message": {"type": "message", "user": ALICE, "text": DECLARE},
    }

    settle(slack, slack.deliver_event(preview))

    assert bot_posts(slack) == []


def test_own_messages_and_reactions_ignored(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    ts = slack.post_as(ALICE, channel, "Rolled back the deploy")
    own_message = {
        "type": "message",
        "channel": channel,
        "user": slack.bot_user_id,
        "bot_id": slack.bot_id,
        "text": "!incident update Posted by the bot itself",
        "ts": "1733301000.000500",
        "event_ts": "1733301000.000500",
    }
    own_reaction = {
        "type": "reaction_added",
        "user": slack.bot_user_id,
        "reaction": "pushpin",
        "item_user": ALICE,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": "1733301000.000600",
    }

    settle(slack, slack.deliver_event(own_message))
    settle(slack, slack.deliver_event(own_reaction))

    assert status_posts(slack, channel) == []
    assert gitlab_sandbox.issue("infra/production", 1)["notes"] == []


# Slash commands


@pytest.mark.parametrize("command", ["/incident", "/inc"])
def test_slash_command_runs_incident(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, command: str
) -> None:
    gitlab_sandbox.delay_next("POST", r"/issues$", 2.0)

    envelope = slack.deliver_slash_command(
        command, "declare S2 Checkout errors", ALICE, INCIDENTS
    )

    assert slack.wait_for_ack(envelope) < 1.0
    reply = wait_until(lambda: declared_posts(slack))[0]
    issue = gitlab_sandbox.issue("infra/production", 1)
    assert issue["web_url"] in reply["text"]
    assert "alice" in reply["text"].lower()


# Reactions


def test_pushpin_adds_public_note(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    ts = slack.post_as(ALICE, channel, "Rolled back the 14:05 deploy")
    # The plugin copies the text it stored when the message arrived.
    time.sleep(0.5)

    slack.react_as(ALICE, channel, ts, "pushpin")

    notes = wait_until(lambda: gitlab_sandbox.issue("infra/production", 1)["notes"])
    assert "Rolled back the 14:05 deploy" in notes[0]["body"]
    assert notes[0]["internal"] is False


def test_pushpin_on_unseen_thread_reply(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    parent = slack.post_as(ALICE, channel, "Replica lag is climbing", deliver=False)
    reply = slack.post_as(
        ALICE, channel, "Failover finished at 14:20", thread_ts=parent, deliver=False
    )

    slack.react_as(ALICE, channel, reply, "pushpin")

    notes = wait_until(lambda: gitlab_sandbox.issue("infra/production", 1)["notes"])
    assert len(notes) == 1
    assert "Failover finished at 14:20" in notes[0]["body"]
    assert "Replica lag is climbing" not in notes[0]["body"]


def test_rate_limited_posts_are_retried(bot: Any, slack: SlackSandbox) -> None:
    # Declaring posts three times (the announcement, the status card in the
    # incident channel, then the reply). The first two are rate limited once
    # and must still arrive.
    slack.fail_next("chat.postMessage", 429, times=2, retry_after=1)

    reply = declare(slack)
    posts = wait_until(lambda: len(bot_posts(slack)) >= 2 and bot_posts(slack))

    assert "infra/production#1" in reply["text"]
    assert any("incident declared by" in post["text"] for post in posts)
    assert len(slack.calls_to("chat.postMessage")) == 5


# Posting options


def test_posts_have_link_names_off(
    bot: Any, slack: SlackSandbox, hosts: list[str]
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    slack.post_as(ALICE, channel, "!incident update Paging <!here> for the database")
    posts = wait_until(lambda: status_posts(slack, channel))

    assert "<!here>" not in posts[0]["text"]
    assert "here" in posts[0]["text"]
    for post in bot_posts(slack, INCIDENTS) + bot_posts(slack, channel):
        assert post["link_names"] is False, post
    assert_local_only(slack, hosts)


def test_send_returns_message_ts(bot: Any, slack: SlackSandbox) -> None:
    room = bot.build_identifier(f"<#{INCIDENTS}>")

    sent = bot.send(room, "Checkout is back to normal")

    posts = bot_posts(slack)
    assert len(posts) == 1
    assert sent.extras["ts"] == [posts[0]["ts"]]
    assert posts[0]["text"] == "Checkout is back to normal"


def test_repeated_lookups_are_cached(bot: Any, slack: SlackSandbox) -> None:
    slack.post_as(ALICE, INCIDENTS, "first message")
    time.sleep(0.5)
    slack.reset_log()

    for number in range(3):
        slack.post_as(ALICE, INCIDENTS, f"message {number}")
    time.sleep(1.0)

    assert slack.calls_to("conversations.info") == []
    assert slack.calls_to("users.info") == []
    assert slack.calls_to("team.info") == []


# Message lookup


def test_fetch_message_top_level(bot: Any, slack: SlackSandbox) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, "Checkout 5xx rate is 12%")
    slack.post_as(ALICE, INCIDENTS, "a later message")

    message = bot.fetch_message(INCIDENTS, ts)

    assert message is not None
    assert message["ts"] == ts
    assert message["text"] == "Checkout 5xx rate is 12%"
    assert message["user"] == ALICE
    assert slack.calls_to("conversations.replies") == []


def test_fetch_message_thread_reply(bot: Any, slack: SlackSandbox) -> None:
    parent = slack.post_as(ALICE, INCIDENTS, "Checkout 5xx rate is 12%")
    reply = slack.post_as(ALICE, INCIDENTS, "Rolled back at 14:05", thread_ts=parent)
    slack.post_as(ALICE, INCIDENTS, "Back to 0.2%", thread_ts=parent)

    message = bot.fetch_message(INCIDENTS, reply)

    assert message is not None
    assert message["ts"] == reply
    assert message["thread_ts"] == parent
    assert message["text"] == "Rolled back at 14:05"


def test_fetch_message_unknown_ts(bot: Any, slack: SlackSandbox) -> None:
    slack.post_as(ALICE, INCIDENTS, "Checkout 5xx rate is 12%")

    assert bot.fetch_message(INCIDENTS, "1000000000.000100") is None


def test_typed_mention_syntax_stays_text(bot: Any, slack: SlackSandbox) -> None:
    # Slack delivers a typed "<!channel>" escaped; the bot's echo must not
    # turn it back into the mention.
    declare(slack)
    channel = incident_channel(slack)
    slack.post_as(
        ALICE, channel, "!incident update Do not page &lt;!channel&gt; or &lt;!here&gt;"
    )
    posts = wait_until(lambda: status_posts(slack, channel))

    assert "Do not page &lt;!channel&gt; or &lt;!here&gt;" in posts[0]["text"]
    for post in bot_posts(slack, INCIDENTS) + bot_posts(slack, channel):
        assert "<!channel>" not in post["text"], post
        assert "<!here>" not in post["text"], post


def test_server_errors_are_retried(bot: Any, slack: SlackSandbox) -> None:
    slack.fail_next("chat.postMessage", 500, times=2)

    reply = declare(slack)

    assert "infra/production#1" in reply["text"]


def test_long_post_split_at_line_ends(bot: Any, slack: SlackSandbox) -> None:
    room = bot.build_identifier(f"<#{INCIDENTS}>")
    lines = [
        f"{number:04d} https://grafana.example.com/d/{number}" for number in range(400)
    ]

    bot.send(room, "\n".join(lines))

    posts = bot_posts(slack)
    assert len(posts) > 1
    assert all(len(post["text"]) <= 4000 for post in posts)
    sent = [line for post in posts for line in post["text"].splitlines() if line]
    assert sent == lines
