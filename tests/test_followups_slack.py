"""Follow-ups through the real Slack backend: link previews, edits, archived channels.

Errbot runs the IncidentSlack backend against the Slack emulator and the
GitLab sandbox. Events are delivered over Socket Mode as Slack sends them.
Links name the sandbox's address where people pasted gitlab.example.com,
because the bot links issues on its own GitLab only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox
from tests.slack_bot import (
    ALICE,
    BOB,
    INCIDENTS,
    bot_posts,
    changed,
    deliver,
    wait_until,
)

REF = "sre/incidents#42"
FOLLOW_UPS = "sre/follow-ups"


def make_issues(
    gitlab: GitLabSandbox, project: str, last: int, **fields: Any
) -> dict[str, Any]:
    """Create issues up to number `last` in a project; `fields` go to the last one."""
    gitlab.add_project(project)
    for iid in range(len(gitlab.issues(project)) + 1, last):
        gitlab.create_issue_directly(project, title=f"Earlier issue {iid}")
    fields.setdefault("title", f"Issue {last}")
    return gitlab.create_issue_directly(project, **fields)


def incident_issue(gitlab: GitLabSandbox, iid: int) -> dict[str, Any]:
    return make_issues(
        gitlab,
        "sre/incidents",
        iid,
        title="Cache stampede on checkout",
        issue_type="incident",
        labels=["severity::2"],
    )


def attach(slack: SlackSandbox, channel: str, issue: dict[str, Any]) -> None:
    """Bind a channel to an incident issue, as alice, and wait for the reply."""
    slack.post_as(ALICE, channel, f"!incident attach <{issue['web_url']}>")
    wait_until(lambda: any("now runs" in p["text"] for p in bot_posts(slack, channel)))


def set_clock(bot: Any) -> Callable[[str], None]:
    """Replace the bot's clock and return a function that sets it."""
    now = {"at": datetime(2025, 6, 4, tzinfo=UTC)}
    bot.plugin_manager.get_plugin_obj_by_name("Incident").clock = lambda: now["at"]

    def at(text: str) -> None:
        now["at"] = datetime.fromisoformat(text)

    return at


def run_reminders(bot: Any) -> None:
    bot.plugin_manager.get_plugin_obj_by_name("Incident").run_reminders()


def message_event(channel: str, user: str, ts: str, text: str) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "user": user, "ts": ts, "text": text}


def replies_after(slack: SlackSandbox, seen: int, channel: str = INCIDENTS) -> list:
    return [post["text"] for post in bot_posts(slack, channel)[seen:]]


def direct_messages(slack: SlackSandbox, user: str) -> list[str]:
    """Return the bot's direct messages to a user."""
    web = WebClient(token=slack.bot_token, base_url=slack.api_url)
    channel = web.conversations_open(users=user)["channel"]["id"]
    return [
        m["text"] for m in slack.messages(channel) if m["user"] == slack.bot_user_id
    ]


@pytest.fixture
def incident(bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox) -> str:
    """Bind C0INC00042 to sre/incidents#42 and return the follow-up URL prefix."""
    slack.add_user(BOB, "bob", real_name="Bob Baker")
    attach(slack, INCIDENTS, incident_issue(gitlab_sandbox, 42))
    return f"{gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues"


# A link preview arrives as a message edit


def test_preview_links_once(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 21, title="Add jitter to cache TTL")
    link = f"<{incident}/21>"
    seen = len(bot_posts(slack))

    deliver(slack, message_event(INCIDENTS, BOB, "1733300000.000100", link))
    deliver(
        slack,
        changed(
            "1733300000.000100",
            "1733300001.000200",
            link,
            link,
            attachments=[
                {"title": "Add jitter to cache TTL", "from_url": f"{incident}/21"}
            ],
        ),
    )

    assert replies_after(slack, seen) == [
        f"Linked {FOLLOW_UPS}#21 as a follow-up of {REF}."
    ]
    notes = gitlab_sandbox.issue(FOLLOW_UPS, 21)["notes"]
    assert len([n for n in notes if f"Follow-up of incident {REF}" in n["body"]]) == 1


# People edit the link in their message


def test_edited_link_asks_lead_once(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 1235)
    ts = "1733300500.000100"
    original = f"follow-up: <{incident}/1234>"
    first_edit = f"follow-up: <{incident}/1235>"
    second_edit = f"follow-up (storage team): <{incident}/1235>"
    seen = len(bot_posts(slack))

    deliver(slack, message_event(INCIDENTS, BOB, ts, original))
    after_post = replies_after(slack, seen)
    deliver(
        slack,
        changed(
            ts,
            "1733300560.000200",
            first_edit,
            original,
            edited={"user": BOB, "ts": "1733300560.000000"},
        ),
    )
    after_first_edit = replies_after(slack, seen + len(after_post))
    deliver(
        slack,
        changed(
            ts,
            "1733300620.000300",
            second_edit,
            first_edit,
            edited={"user": BOB, "ts": "1733300620.000000"},
        ),
    )
    after_second_edit = replies_after(slack, seen + 2)

    assert after_post == [f"Linked {FOLLOW_UPS}#1234 as a follow-up of {REF}."]
    assert after_first_edit == [
        f"Linked {FOLLOW_UPS}#1235 as a follow-up of {REF}.\n"
        f"<@{ALICE}>: {FOLLOW_UPS}#1234 is no longer referenced by that message. "
        f"Unlink it with `followup reject {FOLLOW_UPS}#1234`?"
    ]
    assert after_second_edit == []
    posts = [post for post in bot_posts(slack) if post["thread_ts"] == ts]
    assert len(posts) == 2
    notes = gitlab_sandbox.issue(FOLLOW_UPS, 1234)["notes"]
    assert len(notes) == 1


def test_link_in_two_messages_not_flagged(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 1235)
    ts = "1733300500.000100"
    original = f"follow-up: <{incident}/1234>"
    edit = f"follow-up: <{incident}/1235>"
    deliver(slack, message_event(INCIDENTS, BOB, ts, original))
    deliver(
        slack,
        message_event(INCIDENTS, BOB, "1733300510.000100", f"see <{incident}/1234>"),
    )
    seen = len(bot_posts(slack))

    deliver(
        slack,
        changed(
            ts,
            "1733300560.000200",
            edit,
            original,
            edited={"user": BOB, "ts": "1733300560.000000"},
        ),
    )

    assert replies_after(slack, seen) == [
        f"Linked {FOLLOW_UPS}#1235 as a follow-up of {REF}."
    ]


# Reminders after the incident is closed and its channel archived

CLOSED_CHANNEL = "C0INC04200"
OTHER_CHANNEL = "C0INC04300"


def test_archived_channel_reminds_by_dm(
    bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    at = set_clock(bot)
    slack.add_user(BOB, "bob", real_name="Bob Baker")
    members = [slack.bot_user_id, ALICE, BOB]
    slack.add_channel(CLOSED_CHANNEL, "inc-0042", members=members)
    slack.add_channel(OTHER_CHANNEL, "inc-0043", members=members)
    make_issues(gitlab_sandbox, FOLLOW_UPS, 2)
    at("2025-06-04T14:50:00+00:00")
    attach(slack, CLOSED_CHANNEL, incident_issue(gitlab_sandbox, 42))
    at("2025-06-04T14:55:00+00:00")
    url = f"{gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues"
    slack.post_as(BOB, CLOSED_CHANNEL, f"follow-ups <{url}/1> and <{url}/2>")
    wait_until(
        lambda: any("Linked" in p["text"] for p in bot_posts(slack, CLOSED_CHANNEL))
    )
    gitlab_sandbox.edit_issue_directly("sre/incidents", 42, state_event="close")
    web = WebClient(token=slack.bot_token, base_url=slack.api_url)
    web.conversations_archive(channel=CLOSED_CHANNEL)
    seen = len(bot_posts(slack, CLOSED_CHANNEL))

    for time in ("15:20", "15:50", "16:20", "17:20"):
        at(f"2025-06-04T{time}:00+00:00")
        run_reminders(bot)
    dms_on_wednesday = direct_messages(slack, ALICE)
    at("2025-06-05T14:35:00+00:00")
    attach(slack, OTHER_CHANNEL, incident_issue(gitlab_sandbox, 43))
    at("2025-06-05T15:05:00+00:00")
    run_reminders(bot)

    assert dms_on_wednesday == []
    assert replies_after(slack, seen, CLOSED_CHANNEL) == []
    tried = [
        call
        for call in slack.calls_to("chat.postMessage")
        if call.get("channel") == CLOSED_CHANNEL
        and "follow-up review is due" in str(call.get("text"))
    ]
    assert len(tried) == 1
    asked = [
        call
        for call in slack.calls_to("chat.postMessage")
        if f"last status update for {REF}" in str(call.get("text"))
    ]
    assert asked == []
    (reminder,) = direct_messages(slack, ALICE)
    assert reminder.startswith(
        f"The follow-up review is due for {REF} (`followup review` lists it):"
    )
    assert f"\n{FOLLOW_UPS}#1: lacks" in reminder
    assert f"\n{FOLLOW_UPS}#2: lacks" in reminder
    other = replies_after(slack, 0, OTHER_CHANNEL)
    assert any("last status update for sre/incidents#43" in text for text in other)
    assert not any("status update" in text for text in direct_messages(slack, ALICE))


# The engineering manager hears about the incident review


def command(slack: SlackSandbox, text: str, expected: str) -> None:
    """Run a command as alice in C0INC00042 and wait for a reply containing text."""
    seen = len(bot_posts(slack))
    slack.post_as(ALICE, INCIDENTS, text)
    wait_until(lambda: any(expected in reply for reply in replies_after(slack, seen)))


def test_resolve_mentions_manager(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    slack.add_user("U0DANA0001", "dana", real_name="Dana Diaz")
    command(
        slack,
        "!incident field root_cause_team Container Registry",
        "root_cause_team",
    )
    seen = len(bot_posts(slack))

    command(slack, "!incident resolve --force", "is resolved")

    replies = replies_after(slack, seen)
    (review,) = gitlab_sandbox.issues("infra/incident-reviews")
    assert (
        f"<@U0DANA0001>: {REF} (S2) had its root cause in Container Registry. A "
        "feature change lock may be needed while the corrective actions are done."
    ) in replies
    assert any(
        f"Incident review started: {review['web_url']}" in reply for reply in replies
    )
