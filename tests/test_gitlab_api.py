"""The GitLab adapter against the sandbox over real HTTP."""

from __future__ import annotations

import logging
import re
import socket
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from incidentbot.gitlab_api import GitLab, GitLabError, Issue, Note
from sandbox.gitlab import GitLabSandbox

PROJECT = "infra/production"


@pytest.fixture
def gitlab(gitlab_sandbox: GitLabSandbox) -> GitLab:
    return GitLab.connect(
        gitlab_sandbox.url,
        gitlab_sandbox.token,
        timeout=0.5,
        max_retries=3,
        max_retry_after=5,
    )


def declare(gitlab: GitLab, **overrides: object) -> Issue:
    return gitlab.create_incident(
        PROJECT,
        str(overrides.get("title", "Replication lag on payments-db")),
        "Declared from Slack.",
        ["Incident::Active", "severity::2"],
    )


# Issues


def test_create_incident_one_request(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = declare(gitlab)

    assert gitlab.request_count == 1
    assert issue.ref == "infra/production#1"
    assert issue.iid == 1
    assert issue.issue_type == "incident"
    assert issue.labels == ("Incident::Active", "severity::2")
    assert issue.state == "opened"
    assert issue.web_url == f"{gitlab_sandbox.url}/infra/production/-/issues/1"
    assert issue.global_id == gitlab_sandbox.issue(PROJECT, 1)["id"]
    assert issue.description == "Declared from Slack."
    assert gitlab_sandbox.issue(PROJECT, 1)["type"] == "INCIDENT"


def test_create_incident_by_project_id(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    project_id = gitlab_sandbox.add_project("acme/platform/storage/ceph-ops")

    issue = gitlab.create_incident(project_id, "Disk full", "", [], confidential=True)

    assert gitlab.request_count == 1
    assert issue.project_path == "acme/platform/storage/ceph-ops"
    assert issue.project_id == project_id
    assert issue.confidential is True
    # The path came with the issue, so looking it up costs nothing.
    assert gitlab.project_path(project_id) == "acme/platform/storage/ceph-ops"
    assert gitlab.request_count == 1


def test_get_issue(gitlab: GitLab) -> None:
    created = declare(gitlab)

    read = gitlab.get_issue(PROJECT, 1)

    assert read == created


def test_edit_issue_one_put(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    declare(gitlab)
    gitlab_sandbox.reset_log()

    issue = gitlab.edit_issue(
        PROJECT,
        1,
        description="New text",
        add_labels=["Incident::Mitigated"],
        remove_labels=["Incident::Active"],
        state_event="close",
        confidential=True,
    )

    assert gitlab_sandbox.requests == [
        ("PUT", "/api/v4/projects/infra%2Fproduction/issues/1")
    ]
    assert issue.description == "New text"
    assert issue.labels == ("Incident::Mitigated", "severity::2")
    assert issue.state == "closed"
    assert issue.confidential is True


def test_edit_issue_without_changes_reads(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(gitlab)
    gitlab_sandbox.reset_log()

    issue = gitlab.edit_issue(PROJECT, 1)

    assert issue.iid == 1
    assert [method for method, _ in gitlab_sandbox.requests] == ["GET"]


def test_label_with_comma_rejected(gitlab: GitLab) -> None:
    with pytest.raises(ValueError, match="contain no comma"):
        gitlab.create_incident(PROJECT, "x", "", ["a,b"])

    assert gitlab.request_count == 0


# Notes


def test_add_note_one_request(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    declare(gitlab)
    before = gitlab.request_count

    public = gitlab.add_note(PROJECT, 1, "Failover done")
    internal = gitlab.add_note(PROJECT, 1, "Customer list attached", internal=True)

    assert gitlab.request_count - before == 2
    assert public.id is not None
    assert public.body == "Failover done"
    assert public.internal is False
    assert internal.internal is True
    notes = gitlab_sandbox.issue(PROJECT, 1)["notes"]
    assert [(note["body"], note["internal"]) for note in notes] == [
        ("Failover done", False),
        ("Customer list attached", True),
    ]


def test_note_of_quick_actions_has_no_id(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(gitlab)

    note = gitlab.add_note(PROJECT, 1, "/close")

    assert note == Note(id=None, body="", internal=False)
    assert gitlab_sandbox.issue(PROJECT, 1)["state"] == "closed"


def test_internal_note_stored_public_is_deleted(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(gitlab)
    public = gitlab.add_note(PROJECT, 1, "Customer list attached")
    leaked = gitlab_sandbox.issue(PROJECT, 1)["notes"][0]
    # A GitLab that ignores `internal` responds with a public note.
    gitlab_sandbox.fail_next("POST", r"/notes$", 201, body=leaked)

    with pytest.raises(GitLabError) as caught:
        gitlab.add_note(PROJECT, 1, "Customer list attached", internal=True)

    assert "as public" in str(caught.value)
    assert "deleted it" in str(caught.value)
    assert caught.value.action == "posting an internal note on infra/production#1"
    assert gitlab_sandbox.requests[-1] == (
        "DELETE",
        f"/api/v4/projects/infra%2Fproduction/issues/1/notes/{public.id}",
    )
    assert gitlab_sandbox.issue(PROJECT, 1)["notes"] == []


def test_delete_note_twice(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    declare(gitlab)
    note = gitlab.add_note(PROJECT, 1, "oops")
    assert note.id is not None

    gitlab.delete_note(PROJECT, 1, note.id)
    gitlab.delete_note(PROJECT, 1, note.id)

    assert gitlab_sandbox.issue(PROJECT, 1)["notes"] == []


# Projects and labels


def test_project_path_cached(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    project_id = gitlab_sandbox.add_project("sre/incidents")

    by_path = gitlab.project_path("sre/incidents")
    first = gitlab.project_path(project_id)
    second = gitlab.project_path(project_id)

    assert by_path == "sre/incidents"
    assert first == "sre/incidents"
    assert second == "sre/incidents"
    assert gitlab.request_count == 1


def test_label_names_reads_every_page(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    names = [f"Service::{number:03}" for number in range(130)]
    gitlab_sandbox.create_issue_directly(PROJECT, title="labels", labels=names)

    found = gitlab.label_names(PROJECT)

    assert found == set(names)
    assert gitlab.request_count == 2


def test_create_label_existing_is_fine(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab.create_label(PROJECT, "severity::1", "#ff0000", "Critical")
    gitlab.create_label(PROJECT, "severity::1", "#00ff00")

    assert gitlab.label_names(PROJECT) == {"severity::1"}
    assert gitlab.request_count == 3


# Timeline events


def test_timeline_event_created(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    issue = declare(gitlab)
    at = datetime(2025, 6, 6, 22, 10, tzinfo=timezone(timedelta(hours=2)))

    event_id = gitlab.create_timeline_event(
        issue, "Failover started", at, ["Start time"]
    )

    events = gitlab_sandbox.issue(PROJECT, 1)["timeline_events"]
    assert event_id == events[0]["id"]
    assert events[0]["note"] == "Failover started"
    assert events[0]["occurredAt"] == "2025-06-06T20:10:00Z"
    assert events[0]["tags"] == ["Start time"]


def test_timeline_event_deleted(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    issue = declare(gitlab)
    event_id = gitlab.create_timeline_event(issue, "Wrong start", datetime.now(UTC))
    assert event_id is not None

    gitlab.delete_timeline_event(issue, event_id)

    assert gitlab_sandbox.issue(PROJECT, 1)["timeline_events"] == []
    with pytest.raises(GitLabError) as caught:
        gitlab.delete_timeline_event(issue, event_id)
    assert "deleting a timeline event on infra/production#1" in str(caught.value)


def test_note_found_by_body(gitlab: GitLab) -> None:
    declare(gitlab)
    gitlab.add_note(PROJECT, 1, "first")
    posted = gitlab.add_note(PROJECT, 1, "second", internal=True)

    found = gitlab.find_note(PROJECT, 1, "second")

    assert found == posted
    assert gitlab.find_note(PROJECT, 1, "third") is None


def test_incident_found_by_title(gitlab: GitLab) -> None:
    issue = declare(gitlab)
    since = datetime.now(UTC) - timedelta(minutes=10)

    found = gitlab.find_incident(PROJECT, issue.title, since)

    assert found is not None
    assert found.ref == issue.ref
    assert gitlab.find_incident(PROJECT, issue.title + " two", since) is None


def test_timeline_event_long_note_cut(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = declare(gitlab)

    gitlab.create_timeline_event(issue, "x" * 400, datetime(2025, 6, 6, 22, 10))

    event = gitlab_sandbox.issue(PROJECT, 1)["timeline_events"][0]
    assert len(event["note"]) == 280
    assert event["note"].endswith("…")
    # A naive time is taken as UTC.
    assert event["occurredAt"] == "2025-06-06T22:10:00Z"


def test_timeline_event_on_plain_issue_fails(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.create_issue_directly(PROJECT, title="A bug")
    issue = gitlab.get_issue(PROJECT, 1)

    with pytest.raises(GitLabError) as caught:
        gitlab.create_timeline_event(issue, "x", datetime.now(UTC))

    assert "insufficient permissions" in caught.value.message
    assert "creating a timeline event on infra/production#1" in str(caught.value)


# Retries, timeouts and errors


def test_retry_after_429_waits(
    gitlab: GitLab,
    gitlab_sandbox: GitLabSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    declare(gitlab)
    gitlab_sandbox.fail_next("POST", r"/notes$", 429, retry_after=1)
    before = gitlab.request_count
    caplog.set_level(logging.WARNING, logger="incidentbot.gitlab")

    started = time.monotonic()
    note = gitlab.add_note(PROJECT, 1, "Failover done")
    elapsed = time.monotonic() - started

    assert note.id is not None
    assert gitlab.request_count - before == 2
    assert elapsed >= 1.0
    assert len(gitlab_sandbox.issue(PROJECT, 1)["notes"]) == 1
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "GitLab returned status 429 while posting a note on infra/production#1; "
        "retry 1 of 3 in 1.0 s"
    ]
    assert all(gitlab_sandbox.token not in message for message in messages)


def test_long_retry_after_fails_fast(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(gitlab)
    gitlab_sandbox.fail_next("POST", r"/notes$", 429, retry_after=60)
    before = gitlab.request_count

    started = time.monotonic()
    with pytest.raises(GitLabError) as caught:
        gitlab.add_note(PROJECT, 1, "Failover done")

    assert time.monotonic() - started < 1.0
    assert gitlab.request_count - before == 1
    assert caught.value.status == 429
    assert "retry after 60 s" in str(caught.value)
    assert "posting a note on infra/production#1" in str(caught.value)


def test_retry_after_as_http_date(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(gitlab)
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    gitlab_sandbox.fail_next("GET", r"/issues/1$", 503, headers={"Retry-After": later})

    with pytest.raises(GitLabError) as caught:
        gitlab.get_issue(PROJECT, 1)

    assert caught.value.status == 503
    wait = re.search(r"asked to retry after (\d+) s", str(caught.value))
    assert wait is not None
    assert 3590 <= int(wait.group(1)) <= 3600


def test_500_on_every_attempt(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    declare(gitlab)
    gitlab_sandbox.fail_next("PUT", r"/issues/1$", 500, times=4)
    before = gitlab.request_count

    with pytest.raises(GitLabError) as caught:
        gitlab.edit_issue(PROJECT, 1, add_labels=["x"])

    assert gitlab.request_count - before == 4
    assert caught.value.status == 500
    assert caught.value.action == "editing infra/production#1"
    assert str(caught.value) == (
        "GitLab answered 500 (500 Internal Server Error) while editing "
        "infra/production#1."
    )
    assert "x" not in gitlab_sandbox.issue(PROJECT, 1)["labels"]


def test_500_then_success(gitlab: GitLab, gitlab_sandbox: GitLabSandbox) -> None:
    declare(gitlab)
    gitlab_sandbox.fail_next("PUT", r"/issues/1$", 502, times=2)

    issue = gitlab.edit_issue(PROJECT, 1, add_labels=["x"])

    assert "x" in issue.labels


def test_slow_read_times_out(gitlab_sandbox: GitLabSandbox) -> None:
    gitlab = GitLab.connect(
        gitlab_sandbox.url, gitlab_sandbox.token, timeout=0.3, max_retries=1
    )
    declare(gitlab)
    gitlab_sandbox.delay_next("GET", r"/issues/1$", 2.0, times=2)
    before = gitlab.request_count

    with pytest.raises(GitLabError) as caught:
        gitlab.get_issue(PROJECT, 1)

    assert caught.value.status is None
    assert caught.value.message == "no answer within 0.3 s"
    assert str(caught.value) == (
        "GitLab did not answer within 0.3 s while reading infra/production#1."
    )
    # A read is safe to repeat, so it was retried once.
    assert gitlab.request_count - before == 2


def test_slow_post_not_sent_twice(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(gitlab)
    gitlab_sandbox.delay_next("POST", r"/notes$", 1.0, times=4)
    before = gitlab.request_count

    with pytest.raises(GitLabError) as caught:
        gitlab.add_note(PROJECT, 1, "Failover done")

    assert caught.value.status is None
    assert gitlab.request_count - before == 1
    # The slow GitLab still stores the note: a second POST would duplicate it.
    deadline = time.monotonic() + 3
    while not gitlab_sandbox.issue(PROJECT, 1)["notes"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(gitlab_sandbox.issue(PROJECT, 1)["notes"]) == 1


@pytest.mark.parametrize("url", ["", "gitlab.example.invalid", "ftp://x.invalid"])
def test_connect_rejects_bad_url(url: str) -> None:
    with pytest.raises(ValueError, match="invalid GitLab URL"):
        GitLab.connect(url, "token")


def test_connect_rejects_empty_token(gitlab_sandbox: GitLabSandbox) -> None:
    with pytest.raises(ValueError, match="GITLAB_TOKEN"):
        GitLab.connect(gitlab_sandbox.url, "")


def test_not_found_and_unauthorized(gitlab_sandbox: GitLabSandbox) -> None:
    gitlab = GitLab.connect(gitlab_sandbox.url, gitlab_sandbox.token, timeout=1)
    stranger = GitLab.connect(gitlab_sandbox.url, "glpat-wrong-secret", timeout=1)

    with pytest.raises(GitLabError) as missing:
        gitlab.get_issue(PROJECT, 99)
    with pytest.raises(GitLabError) as refused:
        stranger.get_issue(PROJECT, 1)

    assert missing.value.status == 404
    assert missing.value.message == "404 Issue Not Found"
    assert refused.value.status == 401
    assert "glpat-wrong-secret" not in str(refused.value)
    assert "glpat-wrong-secret" not in repr(refused.value)


def test_token_in_error_body_masked(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.fail_next(
        "GET", r"/issues/1$", 403, body={"message": f"token {gitlab_sandbox.token}"}
    )

    with pytest.raises(GitLabError) as caught:
        gitlab.get_issue(PROJECT, 1)

    assert caught.value.status == 403
    assert gitlab_sandbox.token not in str(caught.value)
    assert "[masked]" in caught.value.message


def test_validation_message_flattened(gitlab: GitLab) -> None:
    declare(gitlab)

    with pytest.raises(GitLabError) as caught:
        gitlab.add_note(PROJECT, 1, "x" * 1_000_001)

    assert caught.value.status == 400
    assert caught.value.message == "note is too long (maximum is 1000000 characters)"


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gitlab = GitLab.connect(f"http://127.0.0.1:{port}", "t", timeout=1, max_retries=1)

    with pytest.raises(GitLabError) as caught:
        gitlab.get_issue(PROJECT, 1)

    assert caught.value.status is None
    assert str(caught.value) == (
        f"Could not connect to GitLab at http://127.0.0.1:{port} while reading "
        "infra/production#1."
    )
    assert gitlab.request_count == 2


# Issue URLs


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("/infra/production/-/issues/12", ("infra/production", 12)),
        ("/infra/production/-/issues/incident/12", ("infra/production", 12)),
        ("/infra/production/issues/12", ("infra/production", 12)),
        ("/infra/production/-/work_items/12", ("infra/production", 12)),
        ("/infra/production/-/issues/12/", ("infra/production", 12)),
        ("/infra/production/-/issues/12#note_345", ("infra/production", 12)),
        ("/infra/production/-/issues/12?tab=notes", ("infra/production", 12)),
        (
            "/acme/platform/storage/ceph-ops/-/issues/7",
            ("acme/platform/storage/ceph-ops", 7),
        ),
        ("/group/issues/-/issues/3", ("group/issues", 3)),
    ],
)
def test_issue_from_url(
    gitlab: GitLab, gitlab_sandbox: GitLabSandbox, tail: str, expected: tuple[str, int]
) -> None:
    assert gitlab.issue_from_url(gitlab_sandbox.url + tail) == expected
    assert gitlab.request_count == 0


def test_issue_from_url_other_scheme(gitlab: GitLab) -> None:
    https = gitlab.url.replace("http://", "https://")

    assert gitlab.issue_from_url(f"{https}/infra/production/-/issues/4") == (
        "infra/production",
        4,
    )


def test_issue_from_url_under_prefix() -> None:
    gitlab = GitLab.connect("https://code.example.invalid/gitlab", "t")

    parsed = gitlab.issue_from_url(
        "https://code.example.invalid/gitlab/infra/production/-/issues/9"
    )

    assert parsed == ("infra/production", 9)
    with pytest.raises(ValueError, match="not on this GitLab"):
        gitlab.issue_from_url(
            "https://code.example.invalid/infra/production/-/issues/9"
        )


@pytest.mark.parametrize(
    "url",
    [
        "https://elsewhere.example.invalid/infra/production/-/issues/12",
        "{base}/infra/production/-/merge_requests/12",
        "{base}/infra/production/-/issues/0",
        "{base}/infra/production/-/issues/12abc",
        "{base}/production/-/issues/12",
        "{base}/infra/production",
        "ftp://127.0.0.1/infra/production/-/issues/1",
        "not a url",
    ],
)
def test_issue_from_url_rejects(gitlab: GitLab, url: str) -> None:
    url = url.format(base=gitlab.url)

    with pytest.raises(ValueError) as caught:
        gitlab.issue_from_url(url)

    assert repr(url) in str(caught.value)
    assert "/-/issues/<number>" in str(caught.value)
