"""Follow-up links and moves from hard chat and GitLab inputs, through the real plugins.

Errbot's test backend runs the Incident and Followups plugins against the
GitLab sandbox. Channel C0INC00042 runs the incident infra/production#1,
with alice as its lead. The messages are the ones people posted, in Slack's
wire format, except that gitlab.example.com is replaced by the sandbox's
address: the bot links issues on its own GitLab only.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat

REF = "infra/production#1"
FOLLOW_UPS = "sre/follow-ups"
BACKLOG = "sre/platform-backlog"
DEEP = "acme/platform/storage/ceph-ops"
REVIEWS = "infra/incident-reviews"
WORD_JOINER = "\u2060"


@pytest.fixture
def incident(chat: Chat) -> str:
    chat.at("2025-06-04T09:00:00Z")
    reply = chat.command("alice", "incident declare S2 Cache stampede on checkout")
    assert "Declared" in reply, reply
    return REF


def visible(text: str) -> str:
    """Return text as a reader sees it: without the word joiners after "@"."""
    return text.replace(WORD_JOINER, "")


def on_sandbox(text: str, gitlab: GitLabSandbox) -> str:
    """Return a message with gitlab.example.com replaced by the sandbox's host."""
    return text.replace("gitlab.example.com", gitlab.url.removeprefix("http://"))


def make_issues(
    gitlab: GitLabSandbox, project: str, last: int, **kinds: str
) -> list[dict[str, Any]]:
    """Create issues 1 to `last` in a project.

    kinds maps "i<iid>" to an issue type other than "issue", such as "task".
    """
    gitlab.add_project(project)
    return [
        gitlab.create_issue_directly(
            project,
            title=f"Follow-up {iid} of the cache stampede",
            issue_type=kinds.get(f"i{iid}", "issue"),
        )
        for iid in range(1, last + 1)
    ]


def linked(gitlab: GitLabSandbox, project: str = "infra/production", iid: int = 1):
    """Return the references of the issues GitLab shows as linked to an issue."""
    response = requests.get(
        f"{gitlab.url}/api/v4/projects/{project.replace('/', '%2F')}"
        f"/issues/{iid}/links",
        headers={"PRIVATE-TOKEN": gitlab.token},
        timeout=5,
    )
    response.raise_for_status()
    return [link["references"]["full"] for link in response.json()]


def followups_section(gitlab: GitLabSandbox) -> str:
    description = str(gitlab.issue("infra/production", 1)["description"])
    return description.split("Follow-ups", 1)[1]


def context_notes(gitlab: GitLabSandbox, project: str, iid: int) -> list[str]:
    return [
        note["body"]
        for note in gitlab.issue(project, iid)["notes"]
        if f"Follow-up of incident {REF}" in note["body"]
    ]


# Slack rewrites pasted URLs


def test_rewritten_urls_link_once(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 12)
    messages = [
        "see <http://gitlab.example.com/sre/follow-ups/-/issues/7"
        "|gitlab.example.com/sre/follow-ups/-/issues/7>",
        "<https://gitlab.example.com/sre/follow-ups/-/issues/12"
        "?sort=created_asc&amp;tab=notes#note_88120>",
        "same one, other comment: "
        "<https://gitlab.example.com/sre/follow-ups/-/issues/12#note_88121>",
    ]

    chat.send("bob", on_sandbox(messages[0], gitlab_sandbox), wire=False)
    first = chat.replies()
    chat.send("bob", on_sandbox(messages[1], gitlab_sandbox), wire=False)
    second = chat.replies()
    chat.send("bob", on_sandbox(messages[2], gitlab_sandbox), wire=False)
    third_replied = not chat.no_reply()
    listing = chat.command("alice", "followup list")

    assert first == f"Linked {FOLLOW_UPS}#7 as a follow-up of {REF}."
    assert second == f"Linked {FOLLOW_UPS}#12 as a follow-up of {REF}."
    assert not third_replied
    url = f"{gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues"
    assert listing == (
        f"Follow-ups of {REF}:\n"
        f"1. {FOLLOW_UPS}#7 Follow-up 7 of the cache stampede\n   {url}/7\n"
        f"2. {FOLLOW_UPS}#12 Follow-up 12 of the cache stampede\n   {url}/12"
    )
    section = followups_section(gitlab_sandbox)
    assert f"({url}/12)" in section
    assert "note_" not in section
    assert "sort=" not in section
    assert sorted(linked(gitlab_sandbox)) == [f"{FOLLOW_UPS}#12", f"{FOLLOW_UPS}#7"]
    assert len(context_notes(gitlab_sandbox, FOLLOW_UPS, 7)) == 1
    assert len(context_notes(gitlab_sandbox, FOLLOW_UPS, 12)) == 1


# URL shapes: work items, legacy paths, deep subgroups


def test_work_item_legacy_and_deep_urls(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 319)
    make_issues(gitlab_sandbox, DEEP, 9)
    message = (
        "<https://gitlab.example.com/sre/follow-ups/-/work_items/318>\n"
        "<https://gitlab.example.com/sre/follow-ups/issues/319>\n"
        "<https://gitlab.example.com/acme/platform/storage/ceph-ops/-/issues/9>"
    )
    gitlab_sandbox.reset_log()

    chat.send("carol", on_sandbox(message, gitlab_sandbox), wire=False)
    reply = chat.replies()

    assert reply == (
        f"Linked {FOLLOW_UPS}#318 as a follow-up of {REF}.\n"
        f"Linked {FOLLOW_UPS}#319 as a follow-up of {REF}.\n"
        f"Linked {DEEP}#9 as a follow-up of {REF}."
    )
    paths = [path for _, path in gitlab_sandbox.requests]
    assert "/api/v4/projects/sre%2Ffollow-ups/issues/318" in paths
    assert "/api/v4/projects/acme%2Fplatform%2Fstorage%2Fceph-ops/issues/9" in paths
    section = followups_section(gitlab_sandbox)
    assert f"({gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues/319)" in section
    assert f"{FOLLOW_UPS}/issues/319" not in section
    assert f"({gitlab_sandbox.url}/{DEEP}/-/issues/9)" in section


def test_work_item_task_is_not_linked(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 318, i318="task")

    chat.send(
        "carol",
        on_sandbox(
            "<https://gitlab.example.com/sre/follow-ups/-/work_items/318>",
            gitlab_sandbox,
        ),
        wire=False,
    )

    assert chat.replies() == (
        "sre/follow-ups#318 is a task, not an issue, so it is not linked as a "
        "follow-up."
    )
    assert "no follow-ups yet" in chat.command("alice", "followup list")
    assert linked(gitlab_sandbox) == []


# Merge requests, epics and sub-pages


def test_only_the_design_page_issue_links(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 15)
    message = (
        "<https://gitlab.example.com/sre/api/-/merge_requests/77/diffs?diff_id=3>\n"
        "<https://gitlab.example.com/groups/sre/-/epics/4>\n"
        "<https://gitlab.example.com/sre/follow-ups/-/issues/15/designs/graph.png>\n"
        "<https://gitlab.example.com/sre/follow-ups/-/issues/new>"
    )
    gitlab_sandbox.reset_log()

    chat.send("dave", on_sandbox(message, gitlab_sandbox), wire=False)
    reply = chat.replies()
    listing = chat.command("alice", "followup list")

    assert reply == f"Linked {FOLLOW_UPS}#15 as a follow-up of {REF}."
    assert listing.startswith(f"Follow-ups of {REF}:\n1. {FOLLOW_UPS}#15 ")
    assert "\n2. " not in listing
    paths = [path for _, path in gitlab_sandbox.requests]
    assert not [path for path in paths if "merge_requests" in path or "epics" in path]
    assert linked(gitlab_sandbox) == [f"{FOLLOW_UPS}#15"]


# Short references


def test_short_references_need_a_project(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    make_issues(gitlab_sandbox, FOLLOW_UPS, 14)
    message = (
        "dup of #12 - real fix tracked in sre/follow-ups#14, rollback in "
        "sre/api!33, details in <#C0OPS00009|ops> and `#99` in the runbook"
    )

    chat.send("carol", message, wire=False)
    reply = chat.replies()
    listing = chat.command("alice", "followup list")

    assert reply == (
        f"Linked {FOLLOW_UPS}#14 as a follow-up of {REF}.\n"
        "Which project is #12 in? Paste the issue's link or write it as "
        "group/project#number to link it."
    )
    assert listing.startswith(f"Follow-ups of {REF}:\n1. {FOLLOW_UPS}#14 ")
    assert "\n2. " not in listing
    assert linked(gitlab_sandbox) == [f"{FOLLOW_UPS}#14"]


# Moving closed and moved follow-ups


def move_elsewhere(gitlab: GitLabSandbox, project: str, iid: int, to: str) -> None:
    """Move an issue through the API, as someone on GitLab did before."""
    target = gitlab.add_project(to)
    response = requests.post(
        f"{gitlab.url}/api/v4/projects/{project.replace('/', '%2F')}/issues/{iid}/move",
        headers={"PRIVATE-TOKEN": gitlab.token},
        data={"to_project_id": target},
        timeout=5,
    )
    response.raise_for_status()


@pytest.mark.parametrize("moves_closed", [True, False], ids=["current", "older"])
def test_move_batch_reports_each_outcome(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox, moves_closed: bool
) -> None:
    gitlab_sandbox.move_closed_issues = moves_closed
    gitlab_sandbox.add_project(BACKLOG)
    make_issues(gitlab_sandbox, FOLLOW_UPS, 23)
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, 21, state_event="close")
    move_elsewhere(gitlab_sandbox, FOLLOW_UPS, 22, "sre/archive")
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, 22, state_event="reopen")
    chat.send(
        "bob",
        on_sandbox(
            "follow-ups: https://gitlab.example.com/sre/follow-ups/-/issues/21 "
            "https://gitlab.example.com/sre/follow-ups/-/issues/22 "
            "https://gitlab.example.com/sre/follow-ups/-/issues/23",
            gitlab_sandbox,
        ),
    )
    chat.replies()

    reply = chat.command(
        "alice",
        f"followup move {FOLLOW_UPS}#21 {FOLLOW_UPS}#22 {FOLLOW_UPS}#23 {BACKLOG}",
    )

    lines = reply.splitlines()
    assert len(lines) == 3, reply
    if moves_closed:
        assert lines[0] == f"{FOLLOW_UPS}#21 moved to {BACKLOG}#1 (still closed)."
        assert lines[2] == f"{FOLLOW_UPS}#23 moved to {BACKLOG}#2."
        assert gitlab_sandbox.issue(BACKLOG, 1)["state"] == "closed"
        assert gitlab_sandbox.issue(BACKLOG, 2)["state"] == "opened"
    else:
        assert lines[0] == f"{FOLLOW_UPS}#21: closed, GitLab would not move it."
        assert lines[2] == f"{FOLLOW_UPS}#23 moved to {BACKLOG}#1."
        assert gitlab_sandbox.issue(FOLLOW_UPS, 21)["moved_to_id"] is None
        assert len(gitlab_sandbox.issues(BACKLOG)) == 1
    assert lines[1].startswith(
        f"{FOLLOW_UPS}#22: GitLab will not move an issue that was moved before"
    )
    assert "permission" not in reply
    assert gitlab_sandbox.issue(FOLLOW_UPS, 21)["state"] == "closed"
    assert gitlab_sandbox.issue(FOLLOW_UPS, 22)["state"] == "opened"
    listing = chat.command("alice", "followup list")
    assert f"{FOLLOW_UPS}#22 " in listing
    assert f"{FOLLOW_UPS}#23 " not in listing


def test_move_kept_when_description_fails(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_project(BACKLOG)
    make_issues(gitlab_sandbox, FOLLOW_UPS, 1)
    chat.send("bob", f"{gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues/1")
    chat.replies()
    gitlab_sandbox.fail_next("PUT", r"/projects/infra%2Fproduction/issues/1$", 403)

    reply = chat.command("alice", f"followup move 1 {BACKLOG}")
    listing = chat.command("alice", "followup list")

    assert reply.startswith(f"{FOLLOW_UPS}#1 moved to {BACKLOG}#1; updating the")
    assert f"description of {REF} failed" in reply
    assert listing.startswith(f"Follow-ups of {REF}:\n1. {BACKLOG}#1 ")


# Incident review on resolve


def fill_for_resolve(chat: Chat, team: str) -> None:
    for command in (
        "incident field service Web",
        "incident field root_cause Software-Change",
        f"incident field root_cause_team {team}",
        "incident summary summary Checkout pages failed after a cache flush.",
        "incident summary impact About 8% of checkouts failed for 40 minutes.",
        "incident summary causes A deploy flushed the cache for all regions.",
        "incident impact start 08:20",
        "incident impact end 09:00",
    ):
        reply = chat.command("alice", command)
        assert "Missing" not in reply, reply
        assert "Unknown" not in reply, reply


def test_s2_resolve_starts_review(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    fill_for_resolve(chat, "Container Registry")

    reply = chat.command("alice", "incident resolve")

    (review,) = gitlab_sandbox.issues(REVIEWS)
    assert f"Incident review started: {review['web_url']}" in reply
    assert (
        f"@dana: {REF} (S2) had its root cause in Container Registry. A feature "
        "change lock may be needed while the corrective actions are done."
    ) in visible(reply)
    assert review["labels"] == ["review-requested"]
    assert review["title"] == f"Incident review: {REF} Cache stampede on checkout"
    assert "About 8% of checkouts failed" in review["description"]
    assert linked(gitlab_sandbox) == [f"{REVIEWS}#1"]


def test_s3_resolve_starts_no_review(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    chat.at("2025-06-04T09:00:00Z")
    assert "Declared" in chat.command("alice", "incident declare S3 Slow search")
    fill_for_resolve(chat, "Container Registry")

    reply = chat.command("alice", "incident resolve")

    assert reply == f"{REF} is resolved and its issue is closed."
    assert gitlab_sandbox.issues(REVIEWS) == []
    assert linked(gitlab_sandbox) == []


def test_review_link_failure_is_reported(
    incident: str, chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    fill_for_resolve(chat, "Gitaly")
    gitlab_sandbox.fail_next(
        "POST", r"/projects/infra%2Fproduction/issues/1/links$", 403
    )

    reply = chat.command("alice", "incident resolve")

    (review,) = gitlab_sandbox.issues(REVIEWS)
    assert (
        f"Incident review started: {review['web_url']}. Linking it to {REF} failed"
        in reply
    )
    assert "so link it on GitLab." in reply
    assert f"@erin: {REF} (S2) had its root cause in Gitaly." in visible(reply)
    assert linked(gitlab_sandbox) == []
