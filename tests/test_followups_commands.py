"""The follow-ups plugin in Errbot's test backend, against the sandbox GitLab."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat

REF = "infra/production#1"
BACKLOG = "product/backend"


@pytest.fixture
def incident(chat: Chat, gitlab_sandbox: GitLabSandbox) -> str:
    chat.at("2025-06-06T14:10:00Z")
    reply = chat.command("alice", "incident declare S2 Push mirrors failing")
    assert "Declared" in reply, reply
    gitlab_sandbox.add_project(BACKLOG)
    gitlab_sandbox.add_project("infra/incident-follow-ups")
    return REF


def backlog_issue(gitlab: GitLabSandbox, title: str, **extra: Any) -> dict[str, Any]:
    return gitlab.create_issue_directly(BACKLOG, title=title, **extra)


def description(gitlab: GitLabSandbox) -> str:
    return str(gitlab.issue("infra/production", 1)["description"])


def test_pasted_link_becomes_followup(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = backlog_issue(gitlab_sandbox, "Mirror worker retries forever")

    chat.send("bob", f"This matches a bug we have: {issue['web_url']}")
    reply = chat.replies()

    assert reply == f"Linked {BACKLOG}#1 as a follow-up of {REF}."
    assert f"[{BACKLOG}#1]({issue['web_url']}) Mirror worker" in description(
        gitlab_sandbox
    )
    notes = gitlab_sandbox.issue(BACKLOG, 1)["notes"]
    assert any(f"Follow-up of incident {REF}" in note["body"] for note in notes)


def test_second_paste_links_nothing(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = backlog_issue(gitlab_sandbox, "Mirror worker retries forever")
    chat.send("bob", issue["web_url"])
    chat.replies()

    chat.send("carol", f"same link as before: {issue['web_url']}")

    assert chat.no_reply()
    listing = chat.command("alice", "followup list")
    assert listing.count(f"{BACKLOG}#1") == 1


def test_merge_request_is_not_followup(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    chat.send("carol", f"Fix: {gitlab_sandbox.url}/{BACKLOG}/-/merge_requests/40017")

    assert chat.no_reply()
    assert "no follow-ups yet" in chat.command("alice", "followup list")


def test_add_owner_label_corrective_move(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_user("bob", "Bob Baker")
    gitlab_sandbox.add_label("infra/incident-follow-ups", "QA")
    gitlab_sandbox.add_label("infra/incident-follow-ups", "mirroring")
    gitlab_sandbox.add_label(BACKLOG, "QA")

    added = chat.command("alice", "followup add Alert on push mirror failure ratio")
    owner = chat.command("alice", "followup owner infra/incident-follow-ups#1 @bob")
    corrective = chat.command("alice", "followup corrective 1")
    label = chat.command("alice", "followup label 1 QA, mirroring")
    moved = chat.command("alice", f"followup move 1 {BACKLOG}")

    assert added.startswith(
        f"Created infra/incident-follow-ups#1 and linked it to {REF}"
    )
    assert owner == "infra/incident-follow-ups#1 is now owned by bob."
    assert corrective.endswith(f"is now a corrective action of {REF}.")
    assert label == "Added QA, mirroring to infra/incident-follow-ups#1."
    assert moved.startswith(f"infra/incident-follow-ups#1 moved to {BACKLOG}#1")
    assert "GitLab dropped mirroring" in moved
    text = description(gitlab_sandbox)
    assert f"[{BACKLOG}#1]" in text
    corrective_section = text.split("Corrective actions")[1]
    assert f"{BACKLOG}#1" in corrective_section
    moved_issue = gitlab_sandbox.issue(BACKLOG, 1)
    assert "QA" in moved_issue["labels"]


def test_review_lists_what_is_missing(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    chat.command("alice", "followup add Alert on push mirror failure ratio")

    review = chat.command("alice", "followup review")

    assert "infra/incident-follow-ups#1: lacks" in review
    assert "still in the triage project infra/incident-follow-ups" in review
    assert "a team or group label" in review
    assert "an owner" in review
    assert "due the business day after the incident is resolved" in review


def test_reject_unlinks(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = backlog_issue(gitlab_sandbox, "Unrelated flaky test")
    chat.send("bob", issue["web_url"])
    chat.replies()

    reply = chat.command("alice", f"followup reject {BACKLOG}#1 unrelated")
    chat.send("bob", issue["web_url"])

    assert reply == f"{BACKLOG}#1 is no longer a follow-up of {REF}."
    assert chat.no_reply()
    assert f"{BACKLOG}#1" not in description(gitlab_sandbox).split("Follow-ups")[-1]
