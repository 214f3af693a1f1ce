"""Hard Slack deliveries seen in real bots, through the real backend.

Errbot runs the IncidentSlack backend against the Slack emulator; the events
below are delivered over Socket Mode exactly as written, into channel
C0INC00042, which runs the incident infra/production#1.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from sandbox.slack import SlackSandbox
from tests.slack_bot import (
    ALICE,
    BOB,
    INCIDENTS,
    bot_posts,
    changed,
    deliver,
    said,
    wait_until,
)

FOLLOW_UP = "https://gitlab.example.com/sre/follow-ups/-/issues"


@pytest.fixture
def incident(bot: Any, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox) -> str:
    """Bind C0INC00042 to a new incident issue and return the issue's web URL."""
    slack.add_user(BOB, "bob", real_name="Bob Baker")
    issue = gitlab_sandbox.create_issue_directly(
        "infra/production",
        title="Replication lag on payments-db",
        issue_type="incident",
    )
    slack.post_as(ALICE, INCIDENTS, f"!incident attach <{issue['web_url']}>")
    wait_until(lambda: any("now runs" in p["text"] for p in bot_posts(slack)))
    return str(issue["web_url"])


def notes(gitlab: GitLabSandbox) -> list[dict[str, Any]]:
    return list(gitlab.issue("infra/production", 1)["notes"])


def pushpin(user: str, ts: str, **item_user: str) -> dict[str, Any]:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": "pushpin",
        **item_user,
        "item": {"type": "message", "channel": INCIDENTS, "ts": ts},
        "event_ts": f"{float(ts) + 30:.6f}",
    }


def bot_replies(slack: SlackSandbox, after: int) -> list[str]:
    return [post["text"] for post in bot_posts(slack)[after:]]


# Link previews arrive as message edits


def test_link_preview_changes_nothing(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    link = f"<{FOLLOW_UP}/21>"
    posted = len(bot_posts(slack))
    deliver(
        slack,
        said(BOB, "1733300000.000100", link),
    )
    deliver(
        slack,
        changed(
            "1733300000.000100",
            "1733300001.000200",
            link,
            link,
            attachments=[
                {"title": "Add jitter to cache TTL", "from_url": f"{FOLLOW_UP}/21"}
            ],
        ),
    )

    deliver(slack, pushpin(ALICE, "1733300000.000100", item_user=BOB))

    bodies = [note["body"] for note in wait_until(lambda: notes(gitlab_sandbox))]
    assert len(bodies) == 1
    assert f"{FOLLOW_UP}/21" in bodies[0]
    assert "Add jitter to cache TTL" not in bodies[0]
    assert bot_replies(slack, posted) == []


def test_previewed_command_runs_once(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    text = f"!incident update Tracking the fix in <{FOLLOW_UP}/21>"
    deliver(
        slack,
        said(BOB, "1733300000.000100", text),
    )
    deliver(
        slack,
        changed(
            "1733300000.000100",
            "1733300001.000200",
            text,
            text,
            attachments=[{"title": "Add jitter to cache TTL"}],
        ),
    )

    updates = [n for n in notes(gitlab_sandbox) if "Status update" in n["body"]]
    assert len(updates) == 1
    assert f"{FOLLOW_UP}/21" in updates[0]["body"]
    replies = [text for text in bot_replies(slack, 0) if "Status update" in text]
    assert len(replies) == 1


# People edit their messages


def test_edits_replace_kept_copy(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    ts = "1733300500.000100"
    original = f"follow-up: <{FOLLOW_UP}/1234>"
    first_edit = f"follow-up: <{FOLLOW_UP}/1235>"
    second_edit = f"follow-up (storage team): <{FOLLOW_UP}/1235>"
    posted = len(bot_posts(slack))

    deliver(
        slack,
        said(BOB, ts, original),
    )
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
    assert bot_replies(slack, posted) == []

    deliver(slack, pushpin(ALICE, ts, item_user=BOB))

    bodies = [note["body"] for note in wait_until(lambda: notes(gitlab_sandbox))]
    assert len(bodies) == 1
    assert "follow-up (storage team):" in bodies[0]
    assert f"{FOLLOW_UP}/1235" in bodies[0]
    assert f"{FOLLOW_UP}/1234" not in bodies[0]
    assert bot_replies(slack, posted) == []


def test_command_in_edit_not_run(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    ts = "1733300700.000100"
    deliver(
        slack,
        said(BOB, ts, "db-2"),
    )
    deliver(
        slack,
        changed(
            ts,
            "1733300760.000200",
            "!incident update db-2 is back",
            "db-2",
            edited={"user": BOB, "ts": "1733300760.000000"},
        ),
    )

    time.sleep(0.5)
    assert not any("Status update" in text for text in bot_replies(slack, 0))
    assert notes(gitlab_sandbox) == []


# Slack delivers an envelope again


def test_repeated_envelope_posts_once(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    event = {
        "type": "message",
        "channel": INCIDENTS,
        "user": ALICE,
        "ts": "1733301000.000300",
        "text": "!incident update Failover to replica done, 5xx rate back to 0.2%",
    }

    deliver(slack, event, event_id="Ev0DUP0001", retry_attempt=0)
    deliver(
        slack, event, event_id="Ev0DUP0001", retry_attempt=1, retry_reason="timeout"
    )

    updates = [n for n in notes(gitlab_sandbox) if "Status update" in n["body"]]
    assert len(updates) == 1
    assert "5xx rate back to 0.2%" in updates[0]["body"]
    replies = [text for text in bot_replies(slack, 0) if "Status update" in text]
    assert len(replies) == 1


def test_repeated_reaction_posts_once(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    ts = "1733301050.000100"
    deliver(
        slack,
        said(BOB, ts, "replica promoted"),
    )
    reaction = pushpin(ALICE, ts, item_user=BOB)

    deliver(slack, reaction, event_id="Ev0DUP0002", retry_attempt=0)
    deliver(
        slack, reaction, event_id="Ev0DUP0002", retry_attempt=1, retry_reason="timeout"
    )

    assert len(notes(gitlab_sandbox)) == 1


# The bot's own messages and reactions


def test_own_message_gets_no_reply(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    text = f"Linked <{FOLLOW_UP}/7|sre/follow-ups#7> as a follow-up of sre/incidents#42"
    posted = len(bot_posts(slack))
    own = {
        "type": "message",
        "channel": INCIDENTS,
        "user": slack.bot_user_id,
        "bot_id": slack.bot_id,
        "ts": "1733301090.000100",
        "text": text,
    }
    preview = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": INCIDENTS,
        "ts": "1733301091.000200",
        "message": {
            **own,
            "attachments": [{"title": "Add jitter", "from_url": f"{FOLLOW_UP}/7"}],
        },
        "previous_message": own,
    }

    deliver(slack, own)
    deliver(slack, preview)

    assert bot_replies(slack, posted) == []
    assert notes(gitlab_sandbox) == []


def test_own_reaction_is_ignored(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    ts = "1733301100.000100"
    deliver(
        slack,
        said(ALICE, ts, "db-2 restarted"),
    )

    deliver(slack, pushpin(slack.bot_user_id, ts, item_user=ALICE))

    assert notes(gitlab_sandbox) == []


def test_pin_app_message_without_owner(
    incident: str, slack: SlackSandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    ts = "1733301200.000100"
    deliver(
        slack,
        {
            "type": "message",
            "subtype": "bot_message",
            "channel": INCIDENTS,
            "bot_id": "B0PAGERDTY",
            "username": "PagerDuty",
            "ts": ts,
            "text": "Triggered: payments-db replication lag",
        },
    )

    deliver(slack, pushpin(BOB, ts))

    bodies = [note["body"] for note in wait_until(lambda: notes(gitlab_sandbox))]
    assert len(bodies) == 1
    assert "Triggered: payments-db replication lag" in bodies[0]
