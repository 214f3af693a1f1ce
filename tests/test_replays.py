"""Recorded incidents replayed through the real plugins against the sandbox.

Each replay must leave the GitLab incident issue and its follow-ups in the
state its expected file describes, also when the bot is stopped and started
again halfway with the same data directory.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from tests.chat import Chat, point_links_at
from tests.conftest import BotFactory
from tests.replay import ChatDriver, ReplayRun, load, play
from tests.replay_followups import check_followups, prepare_gitlab
from tests.replay_pages import check_pages

REPLAY_NAMES = ["registry-cny-manifest-apdex-s3", "push-mirrors-failing-s3-to-s2"]
SCOPES = ("Incident", "severity", "Service", "RootCause")


def incident_issue(gitlab_sandbox: GitLabSandbox, run: ReplayRun) -> dict[str, Any]:
    issues = gitlab_sandbox.issues(run.expected["incident_project"])
    incidents = [issue for issue in issues if issue["issue_type"] == "incident"]
    assert len(incidents) == 1, [issue["title"] for issue in incidents]
    return incidents[0]


def reaction_notes(issue: dict[str, Any], internal: bool) -> list[dict[str, Any]]:
    return [
        note
        for note in issue["notes"]
        if note["internal"] == internal and re.match(r"\*\*\S+\*\* — ", note["body"])
    ]


def note_quotes(note: dict[str, Any]) -> str:
    """Return the quoted message inside a note, without the `> ` prefixes."""
    lines = [
        line[2:] if line.startswith("> ") else line
        for line in note["body"].splitlines()
    ]
    return "\n".join(line for line in lines if line != ">")


def utc(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime(
        "%Y-%m-%d %H:%M UTC"
    )


def check_end_state(
    run: ReplayRun,
    gitlab_sandbox: GitLabSandbox,
    chat: ChatDriver,
    pagerduty: PagerDutySandbox,
) -> None:
    expected = run.expected
    issue = incident_issue(gitlab_sandbox, run)

    assert issue["title"] == expected["declared"]["title"]
    for label in expected["labels"]:
        assert label in issue["labels"]
    for scope in SCOPES:
        scoped = [label for label in issue["labels"] if label.startswith(scope + "::")]
        assert len(scoped) == 1, scoped
    assert issue["state"] == expected["issue_state"]
    assert issue["confidential"] == expected["confidential"]

    reactions = expected["notes_from_reactions"]
    public = reaction_notes(issue, internal=False)
    internal = reaction_notes(issue, internal=True)
    assert len(public) == reactions["public"]
    assert len(internal) == reactions["internal"]
    # The drivers sent the replays' GitLab links with the sandbox's URL.
    for line in reactions["public_from_lines"]:
        text = point_links_at(run.events[line]["text"], gitlab_sandbox.url)
        assert sum(text in note_quotes(note) for note in public) == 1, text
    for line in reactions["internal_from_lines"]:
        text = point_links_at(run.events[line]["text"], gitlab_sandbox.url)
        assert sum(text in note_quotes(note) for note in internal) == 1, text

    updates = [n for n in issue["notes"] if n["body"].startswith("**Status update**")]
    assert len(updates) == expected["notes_from_incident_update"]

    description = issue["description"]
    impact = expected["customer_impact"]
    assert f"**Customer impact start:** {utc(impact['start'])}" in description
    assert f"**Customer impact end:** {utc(impact['end'])}" in description
    for section in expected["summary_sections_set"]:
        line = next(
            event["text"]
            for event in run.events
            if event["kind"] == "command"
            and event["text"].startswith(f"incident summary {section} ")
        )
        assert line.removeprefix(f"incident summary {section} ") in description

    manual = [
        event
        for event in run.events
        if event["kind"] == "command"
        and event["text"].startswith("incident timeline add")
    ]
    assert len(manual) == expected["timeline_entries_added"]
    events = issue["timeline_events"]
    for event in manual:
        _, _, _, at, text = event["text"].split(" ", 4)
        assert f"{utc(at)} — {text}" in description
        assert any(
            item["note"] == text and item["occurredAt"].startswith(at[:16])
            for item in events
        ), events
    tags = {tag for item in events for tag in item.get("tags", ())}
    assert {"Start time", "End time"} <= tags

    stored = chat.plugin.store.get(f"{expected['incident_project']}#{issue['iid']}")
    assert stored is not None
    assert [level for level, _ in stored.severity_history] == [
        f"S{level}" for level in expected["severity_history"]
    ]
    assert stored.severity == f"S{expected['severity']}"
    for role, person in expected["roles"].items():
        assert stored.roles.get(role) == person
    assert stored.state == "resolved"
    assert not stored.resolve_forced

    roles = chat.command("alice", f"incident roles {stored.ref}")
    assert f"lead: {expected['roles']['lead']}" in roles

    check_followups(run, gitlab_sandbox, stored, description)
    check_pages(run, stored, pagerduty)


@pytest.mark.parametrize("name", REPLAY_NAMES)
def test_replay_end_state(
    name: str,
    paging_config: dict[str, Any],
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
    pagerduty_sandbox: PagerDutySandbox,
) -> None:
    run = load(name)
    prepare_gitlab(run, gitlab_sandbox)
    chat = Chat(start_bot(), gitlab_url=gitlab_sandbox.url)
    play(run, chat)
    check_end_state(run, gitlab_sandbox, chat, pagerduty_sandbox)


@pytest.mark.parametrize("name", REPLAY_NAMES)
def test_replay_survives_restart(
    name: str,
    paging_config: dict[str, Any],
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
    pagerduty_sandbox: PagerDutySandbox,
) -> None:
    run = load(name)
    prepare_gitlab(run, gitlab_sandbox)
    half = len(run.events) // 2
    chat = Chat(start_bot(), gitlab_url=gitlab_sandbox.url)
    play(run, chat, stop=half)
    restarted = Chat(start_bot(), channel=str(chat.room), gitlab_url=gitlab_sandbox.url)
    restarted.at(chat.now)
    play(run, restarted, start=half)
    check_end_state(run, gitlab_sandbox, restarted, pagerduty_sandbox)


@pytest.mark.parametrize("name", REPLAY_NAMES)
def test_replay_commands_all_succeed(
    name: str,
    paging_config: dict[str, Any],
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    run = load(name)
    prepare_gitlab(run, gitlab_sandbox)
    chat = Chat(start_bot(), gitlab_url=gitlab_sandbox.url)
    play(run, chat)
    for line, reply in run.replies.items():
        assert "failed" not in reply.lower(), (line, reply)
        assert "unknown" not in reply.lower(), (line, reply)
        assert "invalid" not in reply.lower(), (line, reply)
