"""The incident channel on Slack: name, privacy, members, topic, bookmark and card.

Errbot runs on the IncidentSlack backend against the Slack and GitLab
sandboxes, and each test checks what people would see in Slack and GitLab.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from slack_sdk import WebClient

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox
from tests.slack_bot import (
    ALICE,
    INCIDENTS,
    bot_posts,
    declare,
    declared_posts,
    incident_channel,
    notes,
    status_posts,
    wait_until,
)

BOB = "U0BOB00001"
CAROL = "U0CAROL001"
DBA_GROUP = "S0DBA00001"
REF = "infra/production#1"
WORD_JOINER = "\u2060"


@pytest.fixture
def people(slack: SlackSandbox) -> None:
    """Add Bob and Carol to the workspace, and Bob to the @dba-oncall user group."""
    slack.add_user(BOB, "bob", real_name="Bob Baker")
    slack.add_user(CAROL, "carol", real_name="Carol Chen")
    slack.add_usergroup(DBA_GROUP, "dba-oncall", users=[BOB])


def web(slack: SlackSandbox) -> WebClient:
    """Return a Web API client with the bot's token, for what tests set up."""
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def run(slack: SlackSandbox, channel: str, command: str) -> str:
    """Post a command as Alice in a channel and return the bot's reply text."""
    before = len(bot_posts(slack, channel))
    slack.post_as(ALICE, channel, command)
    posts = wait_until(lambda: bot_posts(slack, channel)[before:])
    return str(posts[0]["text"])


def cards(slack: SlackSandbox, channel: str) -> list[dict[str, Any]]:
    """Return the status cards the bot posted in a channel, deleted ones too."""
    return [
        post
        for post in bot_posts(slack, channel)
        if post["text"].startswith(f"Incident {REF}")
    ]


def live_card(slack: SlackSandbox, channel: str) -> dict[str, Any]:
    live = [card for card in cards(slack, channel) if not card["deleted"]]
    assert len(live) == 1, live
    return live[0]


def topic(slack: SlackSandbox, channel: str) -> str:
    return str(slack.channel(channel)["topic"]["value"])


def members(slack: SlackSandbox, channel: str) -> list[str]:
    return list(web(slack).conversations_members(channel=channel)["members"])


def stored_incident(bot: Any) -> Any:
    plugin = bot.plugin_manager.get_plugin_obj_by_name("Incident")
    return plugin.store.require(REF)


def private_channel(slack: SlackSandbox, name: str) -> dict[str, Any]:
    listing = web(slack).conversations_list(types="private_channel")["channels"]
    for channel in listing:
        if channel["name"] == name:
            return dict(channel)
    raise AssertionError(f"the bot created no private channel #{name}")


# Declare


def test_declare_sets_up_channel(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    reply = declare(slack)
    channel = incident_channel(slack, "inc-1")
    issue = gitlab_sandbox.issue("infra/production", 1)

    assert "The incident's channel is #inc-1." in reply["text"]
    assert topic(slack, channel) == "S2 | Active | Checkout errors"
    bookmarks = slack.bookmarks(channel)
    assert len(bookmarks) == 1
    assert bookmarks[0]["type"] == "link"
    assert bookmarks[0]["link"] == issue["web_url"]
    assert bookmarks[0]["title"] == f"Incident issue {REF}"
    card = live_card(slack, channel)
    assert card["text"].splitlines() == [
        f"Incident {REF}: Checkout errors",
        "Severity: S2 | State: Active",
        "Roles: lead alice",
        "Last update: none yet",
        f"Issue: {issue['web_url']}",
    ]
    assert card["link_names"] is False
    assert stored_incident(bot).card_ts == card["ts"]
    assert ALICE in members(slack, channel)


def test_taken_name_gets_variant(bot: Any, slack: SlackSandbox) -> None:
    # An archived channel keeps its name, and Slack returns name_taken for it.
    slack.add_channel("C0OLD00001", "inc-1", members=[slack.bot_user_id])
    web(slack).conversations_archive(channel="C0OLD00001")

    reply = declare(slack)
    channel = incident_channel(slack, "inc-1-2")

    assert (
        "The name #inc-1 is already taken, so the incident's channel is #inc-1-2."
        in reply["text"]
    )
    creates = [call["name"] for call in slack.calls_to("conversations.create")]
    assert creates == ["inc-1", "inc-1-2"]
    assert bot_posts(slack, "C0OLD00001") == []
    assert topic(slack, "C0OLD00001") == ""
    assert [call["channel"] for call in slack.calls_to("conversations.invite")] == [
        channel
    ]
    assert "Checkout errors" in run(slack, channel, "!incident status")


def test_two_taken_names_skipped(bot: Any, slack: SlackSandbox) -> None:
    slack.add_channel("C0OLD00001", "inc-1", members=[ALICE])
    slack.add_channel("C0OLD00002", "inc-1-2", members=[ALICE])

    reply = declare(slack)

    assert (
        "The names #inc-1 and #inc-1-2 are already taken, so the incident's "
        "channel is #inc-1-3." in reply["text"]
    )
    channel = incident_channel(slack, "inc-1-3")
    assert live_card(slack, channel)
    assert bot_posts(slack, "C0OLD00001") == []
    assert bot_posts(slack, "C0OLD00002") == []


def test_confidential_channel_is_private(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    slack.post_as(ALICE, INCIDENTS, "!incident declare S1 --confidential Leaked keys")
    reply = wait_until(lambda: declared_posts(slack))[0]
    channel = private_channel(slack, "inc-1")

    assert gitlab_sandbox.issue("infra/production", 1)["confidential"] is True
    assert channel["is_private"] is True
    public = web(slack).conversations_list(types="public_channel")["channels"]
    assert "inc-1" not in [item["name"] for item in public]
    assert ALICE in members(slack, channel["id"])
    assert "private channel is #inc-1" in reply["text"]
    for post in bot_posts(slack, INCIDENTS):
        assert "Leaked keys" not in post["text"], post
    assert topic(slack, channel["id"]) == "S1 | Active | Confidential"
    card = live_card(slack, channel["id"])
    assert "Leaked keys" not in card["text"]
    assert "confidential" in card["text"]
    assert "Leaked keys" not in slack.bookmarks(channel["id"])[0]["title"]


# Members


def test_role_invites_person(bot: Any, slack: SlackSandbox, people: None) -> None:
    declare(slack)
    channel = incident_channel(slack)

    reply = run(slack, channel, f"!incident role imoc <@{BOB}>")

    assert reply == f"bob is now imoc of {REF}."
    invites = slack.calls_to("conversations.invite")
    assert invites[-1] == {"channel": channel, "users": BOB}
    assert BOB in members(slack, channel)
    assert "Roles: lead alice, imoc bob" in live_card(slack, channel)["text"]


def test_role_for_member_is_quiet(bot: Any, slack: SlackSandbox) -> None:
    declare(slack)
    channel = incident_channel(slack)

    reply = run(slack, channel, f"!incident role comms <@{ALICE}>")

    # Slack returns already_in_channel, which leaves nothing to report.
    assert reply == f"alice is now comms of {REF}."
    assert slack.calls_to("conversations.invite")[-1]["users"] == ALICE


def test_role_by_typed_name(bot: Any, slack: SlackSandbox, people: None) -> None:
    declare(slack)
    channel = incident_channel(slack)

    reply = run(slack, channel, "!incident role responder @carol")

    assert reply == f"carol is now responder of {REF}."
    assert CAROL in members(slack, channel)


def test_role_unknown_person_reported(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(slack)
    channel = incident_channel(slack)

    reply = run(slack, channel, "!incident role responder @nobody")

    assert reply.startswith(
        f"Nobody was made responder: no Slack user is named @{WORD_JOINER}nobody."
    )
    assert "pick the person from Slack's @ list" in reply
    description = gitlab_sandbox.issue("infra/production", 1)["description"]
    assert "responder: nobody" not in description


# Topic


def test_topic_follows_severity_and_state(bot: Any, slack: SlackSandbox) -> None:
    declare(slack)
    channel = incident_channel(slack)

    run(slack, channel, "!incident field severity S1")
    after_severity = topic(slack, channel)
    run(slack, channel, "!incident mitigate")
    after_mitigate = topic(slack, channel)
    run(slack, channel, "!incident resolve --force")
    after_resolve = topic(slack, channel)

    assert after_severity == "S1 | Active | Checkout errors"
    assert after_mitigate == "S1 | Mitigated | Checkout errors"
    assert after_resolve == "S1 | Resolved | Checkout errors"
    assert len(slack.calls_to("conversations.setTopic")) == 4


def test_topic_drops_title_when_confidential(bot: Any, slack: SlackSandbox) -> None:
    declare(slack)
    channel = incident_channel(slack)

    run(slack, channel, "!incident field confidential true")

    assert topic(slack, channel) == "S2 | Active | Confidential"
    assert "Checkout errors" not in live_card(slack, channel)["text"]


def test_topic_text_cannot_ping(bot: Any, slack: SlackSandbox, people: None) -> None:
    # How Slack sends "@here", "@dba-oncall" and a typed "<!channel>".
    title = f"Paging <!here> and <!subteam^{DBA_GROUP}> &lt;!channel&gt; @bob"
    slack.post_as(ALICE, INCIDENTS, f"!incident declare S2 {title}")
    wait_until(lambda: declared_posts(slack))
    channel = incident_channel(slack)

    value = topic(slack, channel)
    card = live_card(slack, channel)["text"]

    for text in (value, card):
        assert "<!" not in text
        assert f"@{WORD_JOINER}here" in text
        assert f"@{WORD_JOINER}dba-oncall" in text
        assert f"@{WORD_JOINER}bob" in text
        assert "&lt;!channel&gt;" in text


def test_long_topic_is_trimmed(bot: Any, slack: SlackSandbox) -> None:
    # Slack sends "&" as "&amp;", and the bot escapes it again for the topic,
    # so the title fits GitLab's 255 characters but not a 250-character topic.
    wire_title = "Checkout &amp; payments " * 12 + "ending"
    slack.post_as(ALICE, INCIDENTS, f"!incident declare S2 {wire_title}")
    wait_until(lambda: declared_posts(slack))
    channel = incident_channel(slack)
    full = "S2 | Active | " + html.unescape(wire_title)

    value = topic(slack, channel)

    assert len(value) <= 250
    assert value.endswith("…")
    # Every "&" starts a whole entity, so the cut split none.
    assert re.search(r"&(?!amp;|lt;|gt;)", value) is None
    assert full.startswith(html.unescape(value.removesuffix("…")))


# Status card


def test_card_edited_on_each_change(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, people: None
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    card_ts = live_card(slack, channel)["ts"]

    run(slack, channel, "!incident update Rolled back the 14:05 deploy")
    after_update = live_card(slack, channel)["text"]
    run(slack, channel, "!incident field severity S1")
    after_severity = live_card(slack, channel)["text"]
    run(slack, channel, f"!incident role imoc <@{BOB}>")
    after_role = live_card(slack, channel)["text"]
    run(slack, channel, "!incident mitigate")
    after_mitigate = live_card(slack, channel)["text"]
    run(slack, channel, "!incident resolve --force")
    after_resolve = live_card(slack, channel)["text"]

    assert len(cards(slack, channel)) == 1
    assert live_card(slack, channel)["ts"] == card_ts
    updates = slack.calls_to("chat.update")
    assert [call["ts"] for call in updates] == [card_ts] * 5
    assert all(call["link_names"] is False for call in updates)
    update_note = notes(gitlab_sandbox)[0]["body"]
    assert "Rolled back the 14:05 deploy" in update_note
    assert "Last update (" in after_update
    assert ", alice): Rolled back the 14:05 deploy" in after_update
    assert "Severity: S1 | State: Active" in after_severity
    assert "Roles: lead alice, imoc bob" in after_role
    assert "State: Mitigated" in after_mitigate
    assert "State: Resolved" in after_resolve
    assert "Rolled back the 14:05 deploy" in after_resolve


def test_deleted_card_is_posted_again(bot: Any, slack: SlackSandbox) -> None:
    declare(slack)
    channel = incident_channel(slack)
    first_ts = live_card(slack, channel)["ts"]
    web(slack).chat_delete(channel=channel, ts=first_ts)

    run(slack, channel, "!incident update Failover started")
    second = live_card(slack, channel)
    run(slack, channel, "!incident update Failover done")

    assert second["ts"] != first_ts
    assert "Failover started" in second["text"]
    assert stored_incident(bot).card_ts == second["ts"]
    assert slack.calls_to("chat.update")[-1]["ts"] == second["ts"]
    assert "Failover done" in live_card(slack, channel)["text"]
    assert len(cards(slack, channel)) == 2


# Failures on Slack


def test_slack_failures_keep_gitlab_work(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    slack.fail_next("conversations.setTopic", "not_in_channel")
    slack.fail_next("bookmarks.add", "invalid_link")

    reply = declare(slack)["text"]
    channel = incident_channel(slack)
    slack.fail_next("chat.update", "internal_error")
    update = run(slack, channel, "!incident update Rolled back")

    assert gitlab_sandbox.issue("infra/production", 1)["title"] == "Checkout errors"
    assert "The channel topic was not set: failed to set the topic of" in reply
    assert "Slack returned not_in_channel" in reply
    assert "The issue was not bookmarked in the channel" in reply
    assert live_card(slack, channel)
    assert update.startswith(f"Status update for {REF}")
    assert "The status card was not updated" in update
    assert "Slack returned internal_error" in update
    assert "Rolled back" in notes(gitlab_sandbox)[-1]["body"]


def test_failed_channel_runs_in_origin(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    slack.fail_next("conversations.create", "restricted_action")

    reply = declare(slack)["text"]
    update = run(slack, INCIDENTS, "!incident update Rolled back")

    assert gitlab_sandbox.issue("infra/production", 1)["state"] == "opened"
    assert (
        "The incident channel could not be created (failed to create channel "
        "#inc-1: Slack returned restricted_action), so this channel runs the "
        "incident." in reply
    )
    assert update.startswith(f"Status update for {REF}")
    # The channel it fell back to keeps its topic and gets no card.
    assert slack.calls_to("conversations.setTopic") == []
    assert slack.calls_to("bookmarks.add") == []
    assert cards(slack, INCIDENTS) == []


def test_failed_private_channel_warns(bot: Any, slack: SlackSandbox) -> None:
    slack.fail_next("conversations.create", "restricted_action")

    slack.post_as(ALICE, INCIDENTS, "!incident declare S1 --confidential Leaked keys")
    reply = wait_until(lambda: declared_posts(slack))[0]["text"]

    # slack_sdk sends this form field as "1".
    assert slack.calls_to("conversations.create")[0]["is_private"] == "1"
    assert "so this channel runs the incident" in reply
    assert "If this channel is public, keep confidential details out." in reply
    for post in bot_posts(slack, INCIDENTS):
        assert "Leaked keys" not in post["text"], post


# Mentions copied to GitLab


def test_mentions_reach_gitlab_as_names(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox, people: None
) -> None:
    declare(slack)
    channel = incident_channel(slack)
    gitlab_sandbox.notifications.clear()

    slack.post_as(
        ALICE,
        channel,
        f"!incident update Paged <@{BOB}> and <!subteam^{DBA_GROUP}> about lag",
    )
    reply = wait_until(lambda: status_posts(slack, channel))[0]["text"]
    slack.post_as(ALICE, channel, f"!incident update <!subteam^{DBA_GROUP}> joined")
    wait_until(lambda: len(status_posts(slack, channel)) >= 2)

    body = notes(gitlab_sandbox)[0]["body"]
    assert f"Paged @{WORD_JOINER}bob and @{WORD_JOINER}dba-oncall about lag" in body
    assert "subteam" not in body
    assert gitlab_sandbox.notifications == []
    assert f"@{WORD_JOINER}dba-oncall" in reply
    assert "<!subteam" not in reply
    assert "<@" not in reply
    assert "dba-oncall" in notes(gitlab_sandbox)[1]["body"]
    # The second mention of the group reads the cached list.
    assert len(slack.calls_to("usergroups.list")) == 1
