"""Follow-up inputs that an Incident Lead meets in an outage and after it.

Each test states what the lead should see.

Errbot's test backend runs the Incident and Followups plugins against the
GitLab sandbox. Channel C0INC00042 runs the incident infra/production#1 with
alice as its lead.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat
from tests.conftest import ROOT
from tests.test_followups_field_cases import fill_for_resolve

REF = "infra/production#1"
FOLLOW_UPS = "sre/follow-ups"
BACKLOG = "sre/platform-backlog"
REVIEWS = "infra/incident-reviews"
ADDED = "infra/incident-follow-ups"
INCIDENT_ISSUE = r"/projects/infra%2Fproduction/issues/1$"


@pytest.fixture
def bot_config(bot_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Use a 2 s GitLab timeout and no retries, so that faults show at once."""
    text = (ROOT / "settings.example.toml").read_text()
    text = text.replace("request_timeout = 10", "request_timeout = 2")
    text = text.replace("max_retries = 3", "max_retries = 0")
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return {**bot_config, "INCIDENT_SETTINGS": str(path)}


def declare(chat: Chat, command: str = "incident declare S2 Cache stampede") -> None:
    chat.at("2025-06-04T09:00:00Z")
    reply = chat.command("alice", command)
    assert "Declared" in reply, reply


def make_issues(gitlab: GitLabSandbox, count: int, project: str = FOLLOW_UPS) -> None:
    gitlab.add_project(project)
    for iid in range(1, count + 1):
        gitlab.create_issue_directly(project, title=f"Fix {iid}")


def paste(chat: Chat, gitlab: GitLabSandbox, *iids: int) -> str:
    """Paste links to sre/follow-ups issues as bob and return the bot's reply."""
    links = " ".join(f"<{gitlab.url}/{FOLLOW_UPS}/-/issues/{iid}>" for iid in iids)
    chat.send("bob", links, wire=False)
    return chat.replies(first_timeout=5)


def incident_links(gitlab: GitLabSandbox) -> list[str]:
    response = requests.get(
        f"{gitlab.url}/api/v4/projects/infra%2Fproduction/issues/1/links",
        headers={"PRIVATE-TOKEN": gitlab.token},
        timeout=5,
    )
    response.raise_for_status()
    return [link["references"]["full"] for link in response.json()]


def move_on_gitlab(gitlab: GitLabSandbox, iid: int, target: int) -> None:
    """Move a sre/follow-ups issue through the API, as a person on GitLab does."""
    response = requests.post(
        f"{gitlab.url}/api/v4/projects/sre%2Ffollow-ups/issues/{iid}/move",
        headers={"PRIVATE-TOKEN": gitlab.token},
        data={"to_project_id": target},
        timeout=5,
    )
    response.raise_for_status()


def description(gitlab: GitLabSandbox) -> str:
    return str(gitlab.issue("infra/production", 1)["description"])


# Text from GitLab issue titles in the incident description


def test_title_marker_keeps_description(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    gitlab_sandbox.create_issue_directly(
        FOLLOW_UPS, title="Fix <!-- incident-bot:follow-ups:end --> the cache"
    )
    gitlab_sandbox.create_issue_directly(FOLLOW_UPS, title="Second fix")

    paste(chat, gitlab_sandbox, 1)
    paste(chat, gitlab_sandbox, 2)
    chat.command("alice", "followup corrective 2")

    text = description(gitlab_sandbox)
    assert text.count("<!-- incident-bot:follow-ups:end -->") == 1
    assert text.count("Second fix") == 2  # once per section
    assert "&lt;!-- incident-bot:follow-ups:end" in text


def test_added_title_cannot_open_comment(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.command("alice", "followup add Drop the <!-- cache warmer")

    followups = description(gitlab_sandbox).split("follow-ups:start -->", 1)[1]
    assert "Drop the &lt;!-- cache warmer" in followups


# Confidential incidents


def test_confidential_review_issue_is_confidential(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat, "incident declare S1 --confidential Acme data exposed via cache")
    fill_for_resolve(chat, "Gitaly")
    chat.command(
        "alice", "incident summary summary Acme's records leaked through the cache."
    )

    reply = chat.command("alice", "incident resolve")

    assert "Incident review started" in reply
    (review,) = gitlab_sandbox.issues(REVIEWS)
    assert review["confidential"] is True


# Follow-ups that someone moved on GitLab


def test_paste_of_issue_moved_on_gitlab(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    # GitLab's API names the new issue only by a global id, which a non-admin
    # token cannot look up, so the bot asks for the new link.
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    move_on_gitlab(gitlab_sandbox, 1, gitlab_sandbox.add_project(BACKLOG))

    reply = paste(chat, gitlab_sandbox, 1)

    assert reply == (
        f"{FOLLOW_UPS}#1 was moved on GitLab, so it is closed: paste the link of "
        "the issue it was moved to."
    )
    assert "no follow-ups yet" in chat.command("alice", "followup list")


def test_unreadable_followup_keeps_review(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 2)
    paste(chat, gitlab_sandbox, 1, 2)
    gitlab_sandbox.fail_next(
        "GET", r"/projects/sre%2Ffollow-ups/issues/2$", 404, times=100
    )

    review = chat.command("alice", "followup review")

    assert f"{FOLLOW_UPS}#1: lacks" in review
    assert f"{FOLLOW_UPS}#2" in review


# GitLab failures


def test_failed_review_issue_is_retried(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    fill_for_resolve(chat, "Gitaly")
    gitlab_sandbox.fail_next("POST", r"/projects/infra%2Fincident-reviews/issues$", 500)
    first = chat.command("alice", "incident resolve")
    assert "The incident review issue could not be created" in first
    assert "tries again every 15 min." in first

    chat.at(chat.now + timedelta(minutes=16))
    chat.plugin.run_reminders()

    reviews = gitlab_sandbox.issues(REVIEWS)
    assert len(reviews) == 1
    assert reviews[0]["web_url"] in chat.replies()


def test_link_kept_when_description_fails(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    gitlab_sandbox.fail_next("PUT", INCIDENT_ISSUE, 500)

    reply = paste(chat, gitlab_sandbox, 1)

    assert incident_links(gitlab_sandbox) == [f"{FOLLOW_UPS}#1"]
    assert "was not linked" not in reply
    assert f"{FOLLOW_UPS}#1" in chat.command("alice", "followup list")


# Command input


def test_owner_with_extra_words_names_value(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    paste(chat, gitlab_sandbox, 1)

    reply = chat.command("alice", "followup owner 1 @bob please")

    assert "failed unexpectedly" not in reply
    assert "bob please" in reply


def test_link_by_hand_undoes_reject(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    paste(chat, gitlab_sandbox, 1)
    chat.command("alice", "followup reject 1 wrong one")

    reply = chat.command("alice", f"followup link {FOLLOW_UPS}#1")

    assert reply == f"Linked {FOLLOW_UPS}#1 as a follow-up of {REF}."


def test_move_batch_with_repeat_reports_move(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    gitlab_sandbox.add_project(BACKLOG)
    paste(chat, gitlab_sandbox, 1)
    url = f"{gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues/1"

    reply = chat.command("alice", f"followup move 1 {url} {BACKLOG}")

    assert f"{FOLLOW_UPS}#1 moved to {BACKLOG}#1." in reply


def test_numbered_word_asks_nothing(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    chat.send("bob", "this is attempt #2 of the failover")

    assert chat.no_reply()


def test_link_incident_itself_says_so(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    reply = chat.command("alice", f"followup link {REF}")

    assert reply == f"{REF} is the incident itself, not a follow-up."


def test_quoted_label_is_accepted(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    gitlab_sandbox.add_label(FOLLOW_UPS, "team::Platform Core")
    paste(chat, gitlab_sandbox, 1)

    reply = chat.command("alice", 'followup label 1 ~"team::Platform Core"')

    assert reply == f"Added team::Platform Core to {FOLLOW_UPS}#1."


# What works


def test_link_shapes_link_each_issue_once(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 5)
    url = gitlab_sandbox.url
    https = url.replace("http://", "https://")
    message = (
        f"<{url}/{FOLLOW_UPS}/-/issues/1|see this>\n"
        f"<{https}/{FOLLOW_UPS}/-/issues/2>\n"
        f"<{url}/SRE/Follow-Ups/-/issues/3>\n"
        f"<{url}/sre%2Ffollow-ups/-/issues/4>\n"
        f"<{url}/{FOLLOW_UPS}/-/issues/5/>\n"
        f"<{url}/{FOLLOW_UPS}/-/issues/1?a=1&amp;b=2#note_5>\n"
        f"<{url}/infra/production/-/issues/1>"
    )

    chat.send("bob", message, wire=False)
    reply = chat.replies()

    expected = [
        f"Linked {FOLLOW_UPS}#{iid} as a follow-up of {REF}." for iid in range(1, 6)
    ]
    assert reply.split("\n") == expected
    assert incident_links(gitlab_sandbox) == [f"{FOLLOW_UPS}#{i}" for i in range(1, 6)]


def test_move_after_timeout_finds_moved_issue(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    make_issues(gitlab_sandbox, 1)
    gitlab_sandbox.add_project(BACKLOG)
    paste(chat, gitlab_sandbox, 1)
    gitlab_sandbox.delay_next("POST", r"/move$", 3)
    first = chat.command("alice", f"followup move 1 {BACKLOG}")
    assert "The move may still happen: run it again" in first
    time.sleep(2)

    again = chat.command("alice", f"followup move 1 {BACKLOG}")

    assert again == f"{FOLLOW_UPS}#1 is already in {BACKLOG}: {BACKLOG}#1."
    assert len(gitlab_sandbox.issues(BACKLOG)) == 1
    assert f"{BACKLOG}#1" in chat.command("alice", "followup list")
