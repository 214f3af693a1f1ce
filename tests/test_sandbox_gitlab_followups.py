"""The GitLab sandbox's issue links, moves, users, assignees and work items.

Requests go through python-gitlab, the client the bot uses, and through
plain HTTP where the status code and error body are the point.
"""

from __future__ import annotations

from typing import Any

import gitlab
import gitlab.exceptions
import pytest
import requests

from sandbox.gitlab import GitLabSandbox

FOLLOW_UPS = "sre/follow-ups"
BACKLOG = "sre/platform-backlog"
DEEP = "acme/platform/storage/ceph-ops"
INCIDENTS = "sre/incidents"


@pytest.fixture
def client(gitlab_sandbox: GitLabSandbox) -> gitlab.Gitlab:
    gitlab_sandbox.add_project(BACKLOG)
    gitlab_sandbox.add_project(DEEP)
    return gitlab.Gitlab(
        gitlab_sandbox.url, private_token=gitlab_sandbox.token, timeout=5
    )


def http(
    sandbox: GitLabSandbox, method: str, path: str, **kwargs: Any
) -> requests.Response:
    kwargs.setdefault("timeout", 5)
    headers = {"PRIVATE-TOKEN": sandbox.token}
    return requests.request(
        method, f"{sandbox.url}/api/v4{path}", headers=headers, **kwargs
    )


def encoded(path: str) -> str:
    return path.replace("/", "%2F")


def new_issue(client: gitlab.Gitlab, project: str, **fields: Any) -> Any:
    fields.setdefault("title", "Add a disk alert")
    return client.projects.get(project, lazy=True).issues.create(fields)


# Issue links


def test_link_shows_on_both_issues(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = new_issue(client, INCIDENTS, title="Disk full", issue_type="incident")
    follow_up = new_issue(client, DEEP)

    source, target = incident.links.create(
        {"target_project_id": DEEP, "target_issue_iid": follow_up.iid}
    )
    from_incident = incident.links.list(get_all=True)
    from_follow_up = follow_up.links.list(get_all=True)

    assert source.iid == incident.iid
    assert target.id == follow_up.id
    assert [link.iid for link in from_incident] == [follow_up.iid]
    assert from_incident[0].project_id == gitlab_sandbox.add_project(DEEP)
    assert from_incident[0].link_type == "relates_to"
    assert [link.id for link in from_follow_up] == [incident.id]
    assert from_incident[0].issue_link_id == from_follow_up[0].issue_link_id
    assert from_incident[0].references["full"] == f"{DEEP}#1"


def test_link_post_response_body(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    new_issue(client, INCIDENTS)
    new_issue(client, FOLLOW_UPS)

    response = http(
        gitlab_sandbox,
        "POST",
        f"/projects/{encoded(INCIDENTS)}/issues/1/links",
        json={
            "target_project_id": gitlab_sandbox.add_project(FOLLOW_UPS),
            "target_issue_iid": "1",
            "colour": "blue",
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert sorted(body) == ["link_type", "source_issue", "target_issue"]
    assert body["source_issue"]["references"]["full"] == f"{INCIDENTS}#1"
    assert body["target_issue"]["references"]["full"] == f"{FOLLOW_UPS}#1"
    assert body["link_type"] == "relates_to"


def test_link_twice_is_409(client: gitlab.Gitlab) -> None:
    incident = new_issue(client, INCIDENTS)
    follow_up = new_issue(client, FOLLOW_UPS)
    incident.links.create({"target_project_id": FOLLOW_UPS, "target_issue_iid": 1})

    with pytest.raises(gitlab.exceptions.GitlabCreateError) as again:
        incident.links.create({"target_project_id": FOLLOW_UPS, "target_issue_iid": 1})
    with pytest.raises(gitlab.exceptions.GitlabCreateError) as reverse:
        follow_up.links.create({"target_project_id": INCIDENTS, "target_issue_iid": 1})

    assert again.value.response_code == 409
    assert again.value.error_message == "Issue(s) already assigned"
    assert reverse.value.response_code == 409
    assert len(incident.links.list(get_all=True)) == 1


@pytest.mark.parametrize(
    ("fields", "status", "body"),
    [
        (
            {"target_project_id": FOLLOW_UPS, "target_issue_iid": 99},
            404,
            {"message": "404 Not found"},
        ),
        (
            {"target_project_id": "sre/nowhere", "target_issue_iid": 1},
            404,
            {"message": "404 Project Not Found"},
        ),
        (
            {"target_project_id": FOLLOW_UPS},
            400,
            {"error": "target_issue_iid is missing"},
        ),
        (
            {},
            400,
            {"error": "target_project_id is missing, target_issue_iid is missing"},
        ),
        (
            {
                "target_project_id": FOLLOW_UPS,
                "target_issue_iid": 1,
                "link_type": "duplicates",
            },
            400,
            {"error": "link_type does not have a valid value"},
        ),
        (
            {"target_project_id": INCIDENTS, "target_issue_iid": 1},
            422,
            {"message": "#1 cannot be added: cannot be related to itself"},
        ),
        (
            {
                "target_project_id": FOLLOW_UPS,
                "target_issue_iid": 1,
                "link_type": "blocks",
            },
            403,
            {"message": "Blocked issues not available for current license"},
        ),
    ],
)
def test_link_rejections(
    client: gitlab.Gitlab,
    gitlab_sandbox: GitLabSandbox,
    fields: dict[str, Any],
    status: int,
    body: dict[str, Any],
) -> None:
    new_issue(client, INCIDENTS)
    new_issue(client, FOLLOW_UPS)

    response = http(
        gitlab_sandbox,
        "POST",
        f"/projects/{encoded(INCIDENTS)}/issues/1/links",
        json=fields,
    )

    assert response.status_code == status
    assert response.json() == body
    assert (
        http(
            gitlab_sandbox, "GET", f"/projects/{encoded(INCIDENTS)}/issues/1/links"
        ).json()
        == []
    )


def test_blocking_link_on_premium(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.tier = "premium"
    blocker = new_issue(client, INCIDENTS)
    blocked = new_issue(client, FOLLOW_UPS)

    blocked.links.create(
        {
            "target_project_id": INCIDENTS,
            "target_issue_iid": blocker.iid,
            "link_type": "is_blocked_by",
        }
    )

    assert [link.link_type for link in blocked.links.list()] == ["is_blocked_by"]
    assert [link.link_type for link in blocker.links.list()] == ["blocks"]


def test_unlink_and_unlink_again(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = new_issue(client, INCIDENTS)
    follow_up = new_issue(client, FOLLOW_UPS)
    incident.links.create({"target_project_id": FOLLOW_UPS, "target_issue_iid": 1})
    link_id = incident.links.list()[0].issue_link_id
    path = f"/projects/{encoded(INCIDENTS)}/issues/1/links/{link_id}"

    shown = http(gitlab_sandbox, "GET", path)
    deleted = http(gitlab_sandbox, "DELETE", path)
    again = http(gitlab_sandbox, "DELETE", path)

    assert shown.status_code == 200
    assert shown.json()["target_issue"]["id"] == follow_up.id
    assert deleted.status_code == 200
    assert deleted.json()["source_issue"]["id"] == incident.id
    assert again.status_code == 404
    assert again.json() == {"message": "404 Not found"}
    assert incident.links.list() == []
    assert follow_up.links.list() == []


def test_link_of_other_issue_not_deleted(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = new_issue(client, INCIDENTS)
    new_issue(client, FOLLOW_UPS)
    new_issue(client, FOLLOW_UPS, title="Unrelated")
    incident.links.create({"target_project_id": FOLLOW_UPS, "target_issue_iid": 1})
    link_id = incident.links.list()[0].issue_link_id

    response = http(
        gitlab_sandbox,
        "DELETE",
        f"/projects/{encoded(FOLLOW_UPS)}/issues/2/links/{link_id}",
    )

    assert response.status_code == 404
    assert len(incident.links.list()) == 1


# Moving issues


def move(
    sandbox: GitLabSandbox, project: str, iid: int, fields: dict[str, Any]
) -> requests.Response:
    path = f"/projects/{encoded(project)}/issues/{iid}/move"
    return http(sandbox, "POST", path, json=fields)


def test_move_keeps_labels_target_has(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    alice = gitlab_sandbox.add_user("alice", "Alice Archer")
    gitlab_sandbox.add_label(BACKLOG, "team::storage")
    issue = new_issue(
        client,
        FOLLOW_UPS,
        title="Alert on disk usage",
        description="Page at 90 %.",
        labels="team::storage,needs-triage",
        assignee_ids=[alice],
        confidential=True,
    )
    issue.notes.create({"body": "Context from the incident."})
    backlog_id = gitlab_sandbox.add_project(BACKLOG)

    issue.move(backlog_id)
    old = client.projects.get(FOLLOW_UPS, lazy=True).issues.get(1)

    assert issue.project_id == backlog_id
    assert issue.iid == 1
    assert issue.references["full"] == f"{BACKLOG}#1"
    assert issue.web_url == f"{gitlab_sandbox.url}/{BACKLOG}/-/issues/1"
    assert issue.labels == ["team::storage"]
    assert [user["username"] for user in issue.assignees] == ["alice"]
    assert issue.title == "Alert on disk usage"
    assert issue.description == "Page at 90 %."
    assert issue.confidential is True
    assert issue.state == "opened"
    assert old.state == "closed"
    assert old.moved_to_id == issue.id
    assert old.labels == ["needs-triage", "team::storage"]
    moved = gitlab_sandbox.issue(BACKLOG, 1)
    assert [note["body"] for note in moved["notes"]] == ["Context from the incident."]
    assert moved["notes"][0]["noteable_id"] == issue.id
    # A label the target lacks is dropped, not created there.
    assert gitlab_sandbox.labels(BACKLOG) == ["team::storage"]


def test_move_takes_new_iid(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    new_issue(client, BACKLOG, title="Already here")
    new_issue(client, FOLLOW_UPS)

    response = move(
        gitlab_sandbox,
        FOLLOW_UPS,
        1,
        {"to_project_id": gitlab_sandbox.add_project(BACKLOG)},
    )

    assert response.status_code == 201
    assert response.json()["iid"] == 2
    assert [issue["title"] for issue in gitlab_sandbox.issues(BACKLOG)] == [
        "Already here",
        "Add a disk alert",
    ]


def test_links_follow_moved_issue(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = new_issue(client, INCIDENTS)
    issue = new_issue(client, FOLLOW_UPS)
    incident.links.create({"target_project_id": FOLLOW_UPS, "target_issue_iid": 1})
    link_id = incident.links.list()[0].issue_link_id

    issue.move(gitlab_sandbox.add_project(DEEP))
    links = incident.links.list()
    old_links = client.projects.get(FOLLOW_UPS, lazy=True).issues.get(1).links.list()

    assert [link.issue_link_id for link in links] == [link_id]
    assert links[0].references["full"] == f"{DEEP}#1"
    assert old_links == []


def test_second_move_is_400(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = new_issue(client, FOLLOW_UPS)
    issue.move(gitlab_sandbox.add_project(BACKLOG))
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, 1, state_event="reopen")

    response = move(
        gitlab_sandbox,
        FOLLOW_UPS,
        1,
        {"to_project_id": gitlab_sandbox.add_project(DEEP)},
    )
    reopened = http(gitlab_sandbox, "GET", f"/projects/{encoded(FOLLOW_UPS)}/issues/1")

    assert response.status_code == 400
    assert response.json() == {
        "message": "Cannot move issue due to insufficient permissions!"
    }
    assert reopened.json()["state"] == "opened"
    assert reopened.json()["moved_to_id"] == issue.id
    assert gitlab_sandbox.issues(DEEP) == []


def test_closed_issue_moves_and_stays_closed(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    issue = new_issue(client, FOLLOW_UPS)
    issue.state_event = "close"
    issue.save()

    issue.move(gitlab_sandbox.add_project(BACKLOG))

    assert issue.state == "closed"
    assert issue.closed_at is not None
    assert gitlab_sandbox.issue(FOLLOW_UPS, 1)["moved_to_id"] == issue.id


def test_closed_issue_refused_when_configured(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.move_closed_issues = False
    new_issue(client, FOLLOW_UPS)
    gitlab_sandbox.edit_issue_directly(FOLLOW_UPS, 1, state_event="close")

    response = move(
        gitlab_sandbox,
        FOLLOW_UPS,
        1,
        {"to_project_id": gitlab_sandbox.add_project(BACKLOG)},
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "Cannot move issue due to insufficient permissions!"
    }
    assert gitlab_sandbox.issue(FOLLOW_UPS, 1)["moved_to_id"] is None
    assert gitlab_sandbox.issues(BACKLOG) == []


def test_move_rejections(client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox) -> None:
    new_issue(client, FOLLOW_UPS)
    gitlab_sandbox.create_issue_directly(FOLLOW_UPS, title="Check", issue_type="task")
    own_id = gitlab_sandbox.add_project(FOLLOW_UPS)

    by_path = move(gitlab_sandbox, FOLLOW_UPS, 1, {"to_project_id": BACKLOG})
    missing = move(gitlab_sandbox, FOLLOW_UPS, 1, {})
    unknown = move(gitlab_sandbox, FOLLOW_UPS, 1, {"to_project_id": 99999})
    same = move(gitlab_sandbox, FOLLOW_UPS, 1, {"to_project_id": own_id})
    task = move(gitlab_sandbox, FOLLOW_UPS, 2, {"to_project_id": own_id + 1})
    no_issue = move(gitlab_sandbox, FOLLOW_UPS, 9, {"to_project_id": own_id + 1})

    assert by_path.status_code == 400
    assert by_path.json() == {"error": "to_project_id is invalid"}
    assert missing.json() == {"error": "to_project_id is missing"}
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "404 Project Not Found"}
    assert same.json() == {
        "message": "Cannot move issue to project it originates from!"
    }
    assert task.status_code == 400
    assert task.json() == {"message": "Cannot move issues of 'task' type."}
    assert no_issue.status_code == 404
    assert gitlab_sandbox.issue(FOLLOW_UPS, 1)["state"] == "opened"


def test_move_route_accepts_only_post(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    new_issue(client, FOLLOW_UPS)

    response = http(
        gitlab_sandbox, "GET", f"/projects/{encoded(FOLLOW_UPS)}/issues/1/move"
    )

    assert response.status_code == 405


# Users and assignees


def test_users_by_username(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    alice = gitlab_sandbox.add_user("alice", "Alice Archer")

    found = client.users.list(username="Alice")
    unknown = client.users.list(username="mallory")
    by_id = client.users.get(alice)

    assert [user.username for user in found] == ["alice"]
    assert found[0].id == alice
    assert found[0].name == "Alice Archer"
    assert found[0].state == "active"
    assert found[0].web_url == f"{gitlab_sandbox.url}/alice"
    assert unknown == []
    assert by_id.username == "alice"
    assert gitlab_sandbox.add_user("alice", "Someone Else") == alice


def test_unknown_user_id_is_404(gitlab_sandbox: GitLabSandbox) -> None:
    response = http(gitlab_sandbox, "GET", "/users/424242")

    assert response.status_code == 404
    assert response.json() == {"message": "404 User Not Found"}


def test_blocked_user_listed(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_user("bob", "Bob Baker", state="blocked")

    found = client.users.list(username="bob")

    assert [user.state for user in found] == ["blocked"]


def test_assignees_on_create_and_update(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    alice = gitlab_sandbox.add_user("alice", "Alice Archer")
    bob = gitlab_sandbox.add_user("bob", "Bob Baker")
    issue = new_issue(client, FOLLOW_UPS, assignee_ids=[alice])
    issues = client.projects.get(FOLLOW_UPS, lazy=True).issues

    changed = issues.update(issue.iid, {"assignee_ids": [bob]})
    cleared = issues.update(issue.iid, {"assignee_ids": []})

    assert [user["username"] for user in issue.assignees] == ["alice"]
    assert issue.assignee["id"] == alice
    assert [user["username"] for user in changed["assignees"]] == ["bob"]
    assert cleared["assignees"] == []
    assert cleared["assignee"] is None


def test_assignees_free_keeps_first(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    alice = gitlab_sandbox.add_user("alice", "Alice Archer")
    bob = gitlab_sandbox.add_user("bob", "Bob Baker")

    free = new_issue(client, FOLLOW_UPS, assignee_ids=[alice, bob])
    unknown_first = new_issue(client, FOLLOW_UPS, assignee_ids=[424242, bob])
    gitlab_sandbox.tier = "premium"
    premium = new_issue(client, FOLLOW_UPS, assignee_ids=[alice, 424242, bob])

    assert [user["username"] for user in free.assignees] == ["alice"]
    # Free keeps the first id and then drops it for being unknown.
    assert unknown_first.assignees == []
    assert [user["username"] for user in premium.assignees] == ["alice", "bob"]


def test_invalid_assignee_ids_is_400(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    new_issue(client, FOLLOW_UPS)

    response = http(
        gitlab_sandbox,
        "PUT",
        f"/projects/{encoded(FOLLOW_UPS)}/issues/1",
        json={"assignee_ids": ["alice"], "title": "Renamed"},
    )

    assert response.status_code == 400
    assert response.json() == {"error": "assignee_ids is invalid"}
    assert gitlab_sandbox.issue(FOLLOW_UPS, 1)["title"] == "Add a disk alert"


def test_assign_quick_action_needs_user(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    alice = gitlab_sandbox.add_user("alice", "Alice Archer")
    issue = new_issue(client, FOLLOW_UPS)

    unknown = http(
        gitlab_sandbox,
        "POST",
        f"/projects/{encoded(FOLLOW_UPS)}/issues/1/notes",
        json={"body": "/assign @mallory"},
    )
    known = issue.notes.create({"body": "Taking this.\n/assign @alice"})

    assert unknown.status_code == 400
    assert unknown.json() == {
        "message": "400 Bad request - Could not apply assign command."
    }
    assert known.body == "Taking this."
    assert [
        user["id"] for user in gitlab_sandbox.issue(FOLLOW_UPS, 1)["assignees"]
    ] == [alice]


# Labels


def test_label_helper_and_created_labels(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.add_label(BACKLOG, "team::storage", color="#112233")
    gitlab_sandbox.add_label(BACKLOG, "team::storage", color="#ffffff")

    new_issue(client, BACKLOG, labels="team::storage,group::gitaly")
    labels = {
        label.name: label.color
        for label in client.projects.get(BACKLOG, lazy=True).labels.list()
    }

    assert labels == {"group::gitaly": "#6699cc", "team::storage": "#112233"}


# Work items and epics


def test_task_read_through_issues_api(
    client: gitlab.Gitlab, gitlab_sandbox: GitLabSandbox
) -> None:
    created = gitlab_sandbox.create_issue_directly(
        DEEP, title="Rotate keys", issue_type="task"
    )

    read = client.projects.get(DEEP, lazy=True).issues.get(created["iid"])
    tasks = client.projects.get(DEEP, lazy=True).issues.list(issue_type="task")

    assert read.issue_type == "task"
    assert read.type == "TASK"
    assert [task.iid for task in tasks] == [created["iid"]]


@pytest.mark.parametrize(
    ("tier", "group", "status", "body"),
    [
        ("free", "sre", 403, {"message": "403 Forbidden"}),
        ("free", "acme%2Fplatform", 403, {"message": "403 Forbidden"}),
        ("premium", "sre", 404, {"message": "404 Not found"}),
        ("free", "nowhere", 404, {"message": "404 Group Not Found"}),
    ],
)
def test_epics_not_served(
    client: gitlab.Gitlab,
    gitlab_sandbox: GitLabSandbox,
    tier: str,
    group: str,
    status: int,
    body: dict[str, Any],
) -> None:
    gitlab_sandbox.tier = tier

    response = http(gitlab_sandbox, "GET", f"/groups/{group}/epics/3")

    assert response.status_code == status
    assert response.json() == body
