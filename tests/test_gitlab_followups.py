"""Follow-up calls of the GitLab adapter against the sandbox over real HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from incidentbot.gitlab_api import GitLab, GitLabError
from incidentbot.gitlab_followups import (
    FollowUpIssues,
    MoveRefusal,
    MoveRefused,
    UnknownLabels,
)
from sandbox.gitlab import GitLabSandbox

INCIDENTS = "sre/incidents"
FOLLOW_UPS = "sre/follow-ups"
BACKLOG = "sre/platform-backlog"
DEEP = "acme/platform/storage/ceph-ops"


@pytest.fixture
def gitlab(gitlab_sandbox: GitLabSandbox) -> GitLab:
    gitlab_sandbox.add_project(BACKLOG)
    gitlab_sandbox.add_project(DEEP)
    return GitLab.connect(
        gitlab_sandbox.url,
        gitlab_sandbox.token,
        timeout=0.5,
        max_retries=3,
        max_retry_after=5,
    )


@pytest.fixture
def follow_ups(gitlab: GitLab) -> FollowUpIssues:
    return FollowUpIssues(gitlab)


def issue_in(
    sandbox: GitLabSandbox,
    project: str,
    *,
    title: str = "Add a disk alert",
    issue_type: str = "issue",
    labels: tuple[str, ...] | list[str] = (),
    assignee_ids: tuple[int, ...] | list[int] = (),
) -> int:
    created = sandbox.create_issue_directly(
        project,
        title=title,
        issue_type=issue_type,
        labels=labels,
        assignee_ids=assignee_ids,
    )
    return int(created["iid"])


def methods(sandbox: GitLabSandbox) -> list[str]:
    return [method for method, _ in sandbox.requests]


# Creating follow-up issues


def test_create_issue_is_inert(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = follow_ups.create_issue(
        FOLLOW_UPS,
        "Ask @alice about the disk alert",
        "From the incident:\n/close\n@all please look",
        ["follow-up"],
    )

    stored = gitlab_sandbox.issue(FOLLOW_UPS, issue.iid)
    assert methods(gitlab_sandbox) == ["POST"]
    assert issue.issue_type == "issue"
    assert issue.state == "opened"
    assert issue.labels == ("follow-up",)
    assert issue.ref == f"{FOLLOW_UPS}#1"
    assert stored["quick_actions_run"] == []
    assert gitlab_sandbox.notifications == []
    assert "\\/close" in stored["description"]


def test_find_issue_after_create(follow_ups: FollowUpIssues) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    created = follow_ups.create_issue(FOLLOW_UPS, "Ping @bob on alerts", "text")

    found = follow_ups.find_issue(FOLLOW_UPS, "Ping @bob on alerts", before)
    missing = follow_ups.find_issue(FOLLOW_UPS, "Something else", before)

    assert found == created
    assert missing is None


# Links


def test_link_returns_link_id(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS, issue_type="incident")
    issue_in(gitlab_sandbox, DEEP)

    link = follow_ups.link_issues(INCIDENTS, 1, DEEP, 1)
    linked = follow_ups.linked_issues(INCIDENTS, 1)

    assert link.created is True
    assert link.link_type == "relates_to"
    assert [entry.link_id for entry in linked] == [link.id]
    assert linked[0].issue.ref == f"{DEEP}#1"
    assert methods(gitlab_sandbox) == ["POST", "GET", "GET"]


def test_link_twice_is_success(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS, issue_type="incident")
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    first = follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 1)

    again = follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 1)
    reverse = follow_ups.link_issues(FOLLOW_UPS, 1, INCIDENTS, 1)

    assert again.id == first.id
    assert again.created is False
    assert reverse.id == first.id
    assert reverse.created is False
    assert len(follow_ups.linked_issues(INCIDENTS, 1)) == 1


def test_link_by_project_id(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS)
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    project_id = gitlab_sandbox.add_project(FOLLOW_UPS)

    link = follow_ups.link_issues(INCIDENTS, 1, project_id, 1)

    assert follow_ups.linked_issues(INCIDENTS, 1)[0].link_id == link.id


def test_link_to_missing_issue(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS)

    with pytest.raises(GitLabError) as caught:
        follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 7)

    assert caught.value.status == 404
    assert str(caught.value) == (
        "GitLab answered 404 (404 Not found) while linking sre/incidents#1 "
        "to sre/follow-ups#7."
    )


def test_link_timeout_not_sent_twice(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS)
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    gitlab_sandbox.delay_next("POST", r"/links$", 1.0)

    with pytest.raises(GitLabError) as caught:
        follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 1)
    time.sleep(1.0)
    again = follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 1)

    assert caught.value.status is None
    assert methods(gitlab_sandbox).count("POST") == 2
    assert again.created is False
    assert len(follow_ups.linked_issues(INCIDENTS, 1)) == 1


def test_unlink_twice(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS)
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    link = follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 1)

    follow_ups.unlink(INCIDENTS, 1, link.id)
    follow_ups.unlink(INCIDENTS, 1, link.id)

    assert follow_ups.linked_issues(INCIDENTS, 1) == []
    assert follow_ups.linked_issues(FOLLOW_UPS, 1) == []


# Moves


def test_move_drops_labels_target_lacks(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    alice = gitlab_sandbox.add_user("alice", "Alice Archer")
    gitlab_sandbox.add_label(BACKLOG, "team::storage")
    issue_in(
        gitlab_sandbox,
        FOLLOW_UPS,
        labels=["team::storage", "needs-triage"],
        assignee_ids=[alice],
    )

    result = follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)
    old = follow_ups.gitlab.get_issue(FOLLOW_UPS, 1)

    assert result.issue.ref == f"{BACKLOG}#1"
    assert result.issue.labels == ("team::storage",)
    assert result.dropped_labels == ("needs-triage",)
    assert result.issue.assignees == ("alice",)
    assert result.already_there is False
    assert old.state == "closed"
    assert old.moved_to_id == result.issue.global_id
    assert old.web_url == f"{gitlab_sandbox.url}/{FOLLOW_UPS}/-/issues/1"


def test_move_keeps_incident_link(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, INCIDENTS, issue_type="incident")
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    link = follow_ups.link_issues(INCIDENTS, 1, FOLLOW_UPS, 1)

    result = follow_ups.move_issue(FOLLOW_UPS, 1, DEEP)
    linked = follow_ups.linked_issues(INCIDENTS, 1)

    assert result.issue.project_path == DEEP
    assert [entry.link_id for entry in linked] == [link.id]
    assert linked[0].issue.ref == f"{DEEP}#1"


def test_move_closed_moved_and_open(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    # sre/follow-ups #1 is closed, #2 was moved before and reopened, #3 is open.
    closed = issue_in(gitlab_sandbox, FOLLOW_UPS, title="Closed one")
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, closed, state_event="close")
    moved_before = issue_in(gitlab_sandbox, FOLLOW_UPS, title="Moved before")
    follow_ups.move_issue(FOLLOW_UPS, moved_before, DEEP)
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, moved_before, state_event="reopen")
    open_one = issue_in(gitlab_sandbox, FOLLOW_UPS, title="Open one")
    gitlab_sandbox.reset_log()

    moved_closed = follow_ups.move_issue(FOLLOW_UPS, closed, BACKLOG)
    with pytest.raises(MoveRefused) as refused:
        follow_ups.move_issue(FOLLOW_UPS, moved_before, BACKLOG)
    moved_open = follow_ups.move_issue(FOLLOW_UPS, open_one, BACKLOG)

    assert moved_closed.issue.state == "closed"
    assert moved_closed.issue.project_path == BACKLOG
    assert refused.value.reason is MoveRefusal.MOVED_BEFORE
    assert str(refused.value) == (
        "GitLab will not move sre/follow-ups#2: it was moved to another project "
        "before (GitLab moves an issue only once, even after it is reopened). "
        "Move the issue it was moved to instead."
    )
    assert "permission" not in str(refused.value)
    assert moved_open.issue.state == "opened"
    assert [issue["title"] for issue in gitlab_sandbox.issues(BACKLOG)] == [
        "Closed one",
        "Open one",
    ]
    # Two moves were sent; the issue moved before was refused without one.
    move_posts = [
        path for method, path in gitlab_sandbox.requests if path.endswith("/move")
    ]
    assert len(move_posts) == 2


def test_closed_move_refused_by_old_gitlab(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.move_closed_issues = False
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, 1, state_event="close")

    with pytest.raises(MoveRefused) as refused:
        follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)

    assert refused.value.reason is MoveRefusal.CLOSED
    assert refused.value.status == 400
    assert str(refused.value) == (
        "sre/follow-ups#1 is closed, and this GitLab will not move a closed "
        "issue. It stays where it is. To move it, reopen it in GitLab first."
    )
    stored = gitlab_sandbox.issue(FOLLOW_UPS, 1)
    assert stored["state"] == "closed"
    assert stored["moved_to_id"] is None


def test_move_again_finds_copy(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS, labels=["needs-triage"])
    first = follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)
    gitlab_sandbox.reset_log()

    again = follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)

    assert again.issue == first.issue
    assert again.already_there is True
    assert again.dropped_labels == ("needs-triage",)
    assert methods(gitlab_sandbox) == ["GET", "GET"]


def test_move_timeout_then_again(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    gitlab_sandbox.delay_next("POST", r"/move$", 1.0)

    with pytest.raises(GitLabError) as caught:
        follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)
    time.sleep(1.0)
    again = follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)

    assert caught.value.status is None
    assert str(caught.value) == (
        "GitLab did not answer within 0.5 s while moving sre/follow-ups#1 to "
        "sre/platform-backlog. The move may still happen: run it again, and the "
        "bot finds the moved issue instead of moving it twice."
    )
    assert again.already_there is True
    assert again.issue.ref == f"{BACKLOG}#1"
    assert len(gitlab_sandbox.issues(BACKLOG)) == 1


def test_move_to_own_project(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS)

    result = follow_ups.move_issue(FOLLOW_UPS, 1, "SRE/Follow-ups")

    assert result.already_there is True
    assert result.issue.ref == f"{FOLLOW_UPS}#1"
    assert "POST" not in methods(gitlab_sandbox)


def test_move_to_unknown_project(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS)

    with pytest.raises(GitLabError) as caught:
        follow_ups.move_issue(FOLLOW_UPS, 1, "sre/nowhere")

    assert caught.value.status == 404
    assert str(caught.value) == (
        "GitLab has no project sre/nowhere (404): check the path, and that the "
        "bot's GitLab user is a member of the project."
    )
    assert gitlab_sandbox.issue(FOLLOW_UPS, 1)["state"] == "opened"


def test_move_task_refused(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS, title="Rotate keys", issue_type="task")

    with pytest.raises(MoveRefused) as refused:
        follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)

    assert refused.value.reason is MoveRefusal.ISSUE_TYPE
    assert str(refused.value) == (
        "GitLab will not move sre/follow-ups#1, which is a task: only issues and "
        "incidents can be moved."
    )


def test_move_permission_refusal(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    gitlab_sandbox.fail_next(
        "POST",
        r"/move$",
        400,
        body={"message": "Cannot move issue due to insufficient permissions!"},
    )

    with pytest.raises(MoveRefused) as refused:
        follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)

    assert refused.value.reason is MoveRefusal.PERMISSIONS
    assert "Reporter role in both projects" in str(refused.value)


def test_project_id_looked_up_once(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    expected = gitlab_sandbox.add_project(DEEP)

    first = follow_ups.project_id(DEEP)
    second = follow_ups.project_id(DEEP.upper())

    assert first == expected
    assert second == expected
    assert gitlab_sandbox.requests == [
        ("GET", "/api/v4/projects/acme%2Fplatform%2Fstorage%2Fceph-ops")
    ]
    assert follow_ups.gitlab.project_path(expected) == DEEP


# Labels


def test_add_labels_rejects_unknown(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_label(BACKLOG, "Team::Storage")
    issue_in(gitlab_sandbox, BACKLOG)

    with pytest.raises(UnknownLabels) as caught:
        follow_ups.add_labels(BACKLOG, 1, ["team::storage", "tem::gitaly"])

    assert str(caught.value) == (
        "sre/platform-backlog has no labels 'team::storage', 'tem::gitaly' "
        "(did you mean 'Team::Storage'?): check the spelling, or create the "
        "label in GitLab first."
    )
    assert caught.value.missing == ("team::storage", "tem::gitaly")
    assert gitlab_sandbox.issue(BACKLOG, 1)["labels"] == []
    assert gitlab_sandbox.labels(BACKLOG) == ["Team::Storage"]


def test_add_labels_known_or_allowed(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_label(BACKLOG, "team::storage")
    issue_in(gitlab_sandbox, BACKLOG)

    known = follow_ups.add_labels(BACKLOG, 1, ["team::storage"])
    created = follow_ups.add_labels(BACKLOG, 1, ["group::gitaly"], allow_new=True)

    assert known.labels == ("team::storage",)
    assert created.labels == ("group::gitaly", "team::storage")
    assert gitlab_sandbox.labels(BACKLOG) == ["group::gitaly", "team::storage"]


# Owners


def test_set_assignee_by_username(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_user("alice", "Alice Archer")
    gitlab_sandbox.add_user("bob", "Bob Baker")
    issue_in(gitlab_sandbox, DEEP)

    first = follow_ups.set_assignee(DEEP, 1, "@Alice")
    second = follow_ups.set_assignee(DEEP, 1, "bob")

    assert first.assignees == ("alice",)
    assert second.assignees == ("bob",)
    assert follow_ups.gitlab.get_issue(DEEP, 1).assignees == ("bob",)


def test_set_assignee_unknown_user(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, FOLLOW_UPS)

    with pytest.raises(GitLabError) as caught:
        follow_ups.set_assignee(FOLLOW_UPS, 1, "mallory")

    assert str(caught.value) == (
        "GitLab has no user named 'mallory': check the GitLab username, which "
        "can differ from the Slack name."
    )
    assert "PUT" not in methods(gitlab_sandbox)


def test_set_assignee_blocked_user(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_user("bob", "Bob Baker", state="blocked")
    issue_in(gitlab_sandbox, FOLLOW_UPS)

    with pytest.raises(GitLabError) as caught:
        follow_ups.set_assignee(FOLLOW_UPS, 1, "bob")

    assert str(caught.value) == (
        "GitLab user 'bob' is blocked, so they cannot own an issue: choose "
        "another owner."
    )
    assert gitlab_sandbox.issue(FOLLOW_UPS, 1)["assignees"] == []


def test_set_assignee_dropped_by_gitlab(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_user("alice", "Alice Archer")
    unchanged = gitlab_sandbox.create_issue_directly(FOLLOW_UPS, title="Disk alert")
    # GitLab returns 200 without the assignee when the user cannot see the
    # project.
    gitlab_sandbox.fail_next("PUT", r"/issues/1$", 200, body=unchanged)

    with pytest.raises(GitLabError) as caught:
        follow_ups.set_assignee(FOLLOW_UPS, 1, "alice")

    assert str(caught.value) == (
        "GitLab did not assign alice to sre/follow-ups#1, which happens when the "
        "user cannot see the project: give them access to sre/follow-ups or "
        "choose another owner."
    )


def test_set_assignee_invalid_username(follow_ups: FollowUpIssues) -> None:
    with pytest.raises(ValueError, match="invalid GitLab username 'al ice'"):
        follow_ups.set_assignee(FOLLOW_UPS, 1, "al ice")

    assert follow_ups.gitlab.request_count == 0


# Reading issues and work items


def test_get_task_and_moved_issue(
    follow_ups: FollowUpIssues, gitlab_sandbox: GitLabSandbox
) -> None:
    issue_in(gitlab_sandbox, DEEP, title="Rotate keys", issue_type="task")
    issue_in(gitlab_sandbox, FOLLOW_UPS)
    moved = follow_ups.move_issue(FOLLOW_UPS, 1, BACKLOG)

    task = follow_ups.gitlab.get_issue(DEEP, 1)
    old = follow_ups.gitlab.get_issue(FOLLOW_UPS, 1)

    assert task.issue_type == "task"
    assert task.project_path == DEEP
    assert task.web_url == f"{gitlab_sandbox.url}/{DEEP}/-/issues/1"
    assert old.state == "closed"
    assert old.moved_to_id == moved.issue.global_id
    assert old.title == moved.issue.title
