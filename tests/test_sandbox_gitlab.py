"""The GitLab sandbox over real HTTP, checked against GitLab's behaviour."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import IMOC_ROUTING_KEY

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = "/projects/infra%2Fproduction"
TIMELINE_MUTATION = """
mutation Create($input: TimelineEventCreateInput!) {
  timelineEventCreate(input: $input) {
    timelineEvent { id note occurredAt }
    errors
  }
}
"""


class Api:
    """Plain HTTP calls to the sandbox's /api/v4 with the right token."""

    def __init__(self, sandbox: GitLabSandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.headers["PRIVATE-TOKEN"] = sandbox.token

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        url = f"{self.sandbox.url}/api/v4{path}"
        return self.session.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def new_issue(self, **fields: Any) -> dict[str, Any]:
        fields.setdefault("title", "Replication lag")
        response = self.post(f"{PRODUCTION}/issues", json=fields)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    def note(self, iid: int, body: str, **fields: Any) -> requests.Response:
        return self.post(
            f"{PRODUCTION}/issues/{iid}/notes", json={"body": body, **fields}
        )

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.session.post(
            f"{self.sandbox.url}/api/graphql",
            json={"query": query, "variables": variables},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture
def api(gitlab_sandbox: GitLabSandbox) -> Api:
    return Api(gitlab_sandbox)


def stored(sandbox: GitLabSandbox, iid: int = 1) -> dict[str, Any]:
    return sandbox.issue("infra/production", iid)


# Authentication, routes and error bodies


def test_missing_or_wrong_token_is_401(gitlab_sandbox: GitLabSandbox) -> None:
    url = f"{gitlab_sandbox.url}/api/v4/projects/infra%2Fproduction"

    missing = requests.get(url, timeout=5)
    wrong = requests.get(url, headers={"PRIVATE-TOKEN": "nope"}, timeout=5)
    bearer = requests.get(
        url, headers={"Authorization": f"Bearer {gitlab_sandbox.token}"}, timeout=5
    )

    assert missing.status_code == 401
    assert missing.json() == {"message": "401 Unauthorized"}
    assert wrong.status_code == 401
    assert bearer.status_code == 200


def test_version_and_user(api: Api) -> None:
    version = api.get("/version")
    user = api.get("/user")

    assert version.status_code == 200
    assert "version" in version.json()
    assert user.json()["username"] == "incident-bot"


def test_project_by_encoded_path_and_id(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    deep_id = gitlab_sandbox.add_project("acme/platform/storage/ceph-ops")

    by_path = api.get("/projects/acme%2Fplatform%2Fstorage%2Fceph-ops")
    by_id = api.get(f"/projects/{deep_id}")

    assert by_path.json()["id"] == deep_id
    assert by_id.json()["path_with_namespace"] == "acme/platform/storage/ceph-ops"


def test_not_found_bodies(api: Api) -> None:
    api.new_issue()

    project = api.get("/projects/infra%2Fnowhere")
    issue = api.get(f"{PRODUCTION}/issues/99")
    note = api.get(f"{PRODUCTION}/issues/1/notes/12345")
    route = api.get("/frobnicate")

    assert project.status_code == 404
    assert project.json() == {"message": "404 Project Not Found"}
    assert issue.json() == {"message": "404 Issue Not Found"}
    assert note.json() == {"message": "404 Note Not Found"}
    assert route.status_code == 404
    assert route.json() == {"error": "404 Not Found"}


# Issues


def test_create_incident_fields(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    first = api.new_issue(
        title="DB down",
        description="Primary is gone",
        labels="Incident::Active,severity::2",
        issue_type="incident",
    )
    second = api.new_issue(title="Follow-up", labels=["a", "b c"])

    assert first["iid"] == 1
    assert second["iid"] == 2
    assert first["id"] != first["iid"]
    assert first["type"] == "INCIDENT"
    assert first["issue_type"] == "incident"
    assert first["state"] == "opened"
    assert first["labels"] == ["Incident::Active", "severity::2"]
    assert first["web_url"] == f"{gitlab_sandbox.url}/infra/production/-/issues/1"
    assert first["references"]["full"] == "infra/production#1"
    assert first["moved_to_id"] is None
    assert second["labels"] == ["a", "b c"]
    # GitLab creates a project label for each new name given to an issue.
    assert {"Incident::Active", "severity::2", "a", "b c"} <= set(
        gitlab_sandbox.labels("infra/production")
    )


def test_create_issue_without_title(api: Api) -> None:
    response = api.post(f"{PRODUCTION}/issues", json={"description": "x"})

    assert response.status_code == 400
    assert response.json() == {"error": "title is missing"}


def test_unknown_parameters_ignored(api: Api) -> None:
    issue = api.new_issue(frobnicate=True, weight_of_the_world=7)
    note = api.note(issue["iid"], "hello", emoji="tada")

    assert "frobnicate" not in issue
    assert note.status_code == 201
    assert note.json()["body"] == "hello"


def test_update_labels_and_state(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue(labels="a,b")
    path = f"{PRODUCTION}/issues/1"

    added = api.put(path, json={"add_labels": "c", "remove_labels": "a"}).json()
    closed = api.put(path, json={"state_event": "close"}).json()
    replaced = api.put(path, json={"labels": "z"}).json()
    reopened = api.put(path, json={"state_event": "reopen"}).json()

    assert added["labels"] == ["b", "c"]
    assert closed["state"] == "closed"
    assert closed["closed_at"] is not None
    assert replaced["labels"] == ["z"]
    assert reopened["state"] == "opened"
    assert reopened["closed_at"] is None
    assert stored(gitlab_sandbox)["labels"] == ["z"]


def test_update_without_parameters(api: Api) -> None:
    api.new_issue()

    response = api.put(f"{PRODUCTION}/issues/1", json={"nothing": 1})

    assert response.status_code == 400
    assert "at least one parameter must be provided" in response.json()["error"]


def test_list_issues_filters(api: Api) -> None:
    api.new_issue(title="one", labels="Incident::Active")
    api.new_issue(title="two", labels="Incident::Resolved")
    api.put(f"{PRODUCTION}/issues/2", json={"state_event": "close"})

    active = api.get(f"{PRODUCTION}/issues", params={"labels": "Incident::Active"})
    closed = api.get(f"{PRODUCTION}/issues", params={"state": "closed"})
    everything = api.get(f"{PRODUCTION}/issues")

    assert [issue["title"] for issue in active.json()] == ["one"]
    assert [issue["title"] for issue in closed.json()] == ["two"]
    assert everything.headers["X-Total"] == "2"


# Labels


def test_label_create_and_duplicate(api: Api) -> None:
    created = api.post(
        f"{PRODUCTION}/labels",
        json={"name": "severity::1", "color": "#dc143c", "description": "Critical"},
    )
    duplicate = api.post(
        f"{PRODUCTION}/labels", json={"name": "severity::1", "color": "#000000"}
    )

    assert created.status_code == 201
    assert created.json()["color"] == "#dc143c"
    assert created.json()["description"] == "Critical"
    assert duplicate.status_code == 409
    assert duplicate.json() == {"message": "Label already exists"}


def test_labels_paginate_with_link_header(api: Api) -> None:
    names = ",".join(f"label-{number:03}" for number in range(25))
    api.new_issue(labels=names)

    first = api.get(f"{PRODUCTION}/labels", params={"per_page": 10})
    following = requests.get(
        first.links["next"]["url"],
        headers={"PRIVATE-TOKEN": api.sandbox.token},
        timeout=5,
    )
    last = api.get(f"{PRODUCTION}/labels", params={"per_page": 10, "page": 3})

    assert first.headers["X-Total"] == "25"
    assert first.headers["X-Total-Pages"] == "3"
    assert first.json()[0]["name"] == "label-000"
    assert following.json()[0]["name"] == "label-010"
    assert len(last.json()) == 5
    assert "next" not in last.links


# Scoped labels


def test_scoped_labels_pile_up_on_free(api: Api) -> None:
    api.new_issue(labels="Incident::Active")

    issue = api.put(
        f"{PRODUCTION}/issues/1", json={"add_labels": "Incident::Mitigated"}
    ).json()

    assert issue["labels"] == ["Incident::Active", "Incident::Mitigated"]


def test_scoped_labels_replace_on_premium(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.tier = "premium"
    api.new_issue(labels="Incident::Active,team::a::b,other")

    issue = api.put(
        f"{PRODUCTION}/issues/1",
        json={"add_labels": "Incident::Mitigated,team::a::c"},
    ).json()
    both = api.new_issue(labels="severity::1,severity::2")

    assert issue["labels"] == ["Incident::Mitigated", "other", "team::a::c"]
    assert both["labels"] == ["severity::2"]


# Notes


def test_note_fields_and_internal(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()

    public = api.note(1, "visible").json()
    internal = api.note(1, "secret", internal=True).json()
    legacy = api.note(1, "old name", confidential=True).json()

    assert public["internal"] is False
    assert public["author"]["username"] == "incident-bot"
    assert public["noteable_type"] == "Issue"
    assert public["noteable_iid"] == 1
    assert public["system"] is False
    assert internal["internal"] is True
    assert internal["confidential"] is True
    assert legacy["internal"] is True
    assert [note["body"] for note in stored(gitlab_sandbox)["notes"]] == [
        "visible",
        "secret",
        "old name",
    ]
    assert stored(gitlab_sandbox)["user_notes_count"] == 3


def test_note_edit_and_delete(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()
    note_id = api.note(1, "first").json()["id"]
    path = f"{PRODUCTION}/issues/1/notes/{note_id}"

    edited = api.put(path, json={"body": "second"})
    deleted = api.delete(path)
    again = api.delete(path)

    assert edited.json()["body"] == "second"
    assert deleted.status_code == 204
    assert again.status_code == 404
    assert again.json() == {"message": "404 Note Not Found"}
    assert stored(gitlab_sandbox)["notes"] == []


def test_note_too_long_or_blank(api: Api) -> None:
    api.new_issue()

    too_long = api.note(1, "x" * 1_000_001)
    blank = api.note(1, "")
    longest = api.note(1, "x" * 1_000_000)

    assert too_long.status_code == 400
    assert too_long.json() == {
        "message": {"note": ["is too long (maximum is 1000000 characters)"]}
    }
    assert blank.status_code == 400
    assert blank.json() == {"message": {"note": ["can't be blank"]}}
    assert longest.status_code == 201


# Quick actions


def test_note_of_only_quick_actions_runs_them(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    api.new_issue()
    api.post(f"{PRODUCTION}/labels", json={"name": "x", "color": "#000000"})

    response = api.note(1, "/close\n/label ~x")

    assert response.status_code == 202
    assert "id" not in response.json()
    assert response.json()["summary"] == ["Closed this issue.", "Added ~x label."]
    assert response.json()["commands_changes"]["state_event"] == "close"
    issue = stored(gitlab_sandbox)
    assert issue["state"] == "closed"
    assert issue["labels"] == ["x"]
    assert issue["notes"] == []
    assert [run["command"] for run in issue["quick_actions_run"]] == ["close", "label"]


def test_escaped_slash_is_inert(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()
    api.post(f"{PRODUCTION}/labels", json={"name": "x", "color": "#000000"})

    response = api.note(1, "\\/close\n\\/label ~x")

    assert response.status_code == 201
    issue = stored(gitlab_sandbox)
    assert issue["state"] == "opened"
    assert issue["labels"] == []
    assert issue["quick_actions_run"] == []
    assert issue["notes"][0]["body"] == "\\/close\n\\/label ~x"


@pytest.mark.parametrize(
    "body",
    [
        "```\n/close\n```",
        "~~~\n/close\n~~~",
        "> /close",
        ">>>\n/close\n>>>",
        " /close",
        "`/close`",
        "/closed for now",
    ],
)
def test_quick_action_lookalikes_inert(
    api: Api, gitlab_sandbox: GitLabSandbox, body: str
) -> None:
    api.new_issue()

    response = api.note(1, body)

    assert response.status_code == 201
    assert stored(gitlab_sandbox)["state"] == "opened"
    assert response.json()["body"] == body


def test_command_removed_text_kept(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()

    response = api.note(1, "Rolled back.\n/close\n/frobnicate stays")

    assert response.status_code == 201
    assert response.json()["body"] == "Rolled back.\n/frobnicate stays"
    assert stored(gitlab_sandbox)["state"] == "closed"


def test_quick_action_label_needs_existing_label(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    api.new_issue()

    response = api.note(1, '/label ~missing ~"also missing"')

    assert response.status_code == 400
    assert "Could not apply label command" in response.json()["message"]
    assert stored(gitlab_sandbox)["labels"] == []
    assert gitlab_sandbox.labels("infra/production") == []


def test_quick_actions_in_description(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.post(f"{PRODUCTION}/labels", json={"name": "db", "color": "#000000"})

    created = api.new_issue(
        description="Replica lag.\n/label db\n/confidential\n/close",
        issue_type="incident",
    )
    edited = api.put(
        f"{PRODUCTION}/issues/1",
        json={"description": "Replica lag.\n/title Replication lag\n/close"},
    ).json()

    assert created["description"] == "Replica lag."
    assert created["labels"] == ["db"]
    assert created["confidential"] is True
    # /close needs an existing issue, so GitLab skips it at creation.
    assert created["state"] == "opened"
    assert edited["description"] == "Replica lag."
    assert edited["title"] == "Replication lag"
    assert edited["state"] == "closed"
    runs = stored(gitlab_sandbox)["quick_actions_run"]
    assert [(run["command"], run["applied"]) for run in runs] == [
        ("label", True),
        ("confidential", True),
        ("close", False),
        ("title", True),
        ("close", True),
    ]


def test_severity_quick_action_on_incident(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    api.new_issue(issue_type="incident")

    response = api.note(1, "/severity S1")

    assert response.status_code == 202
    assert stored(gitlab_sandbox)["severity"] == "CRITICAL"


# Mentions


def test_mentions_notify(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()

    api.note(1, "@alice and @all: please look. (cc @bob.)")

    assert gitlab_sandbox.notifications == [
        {"mention": "alice", "issue": "infra/production#1"},
        {"mention": "all", "issue": "infra/production#1"},
        {"mention": "bob", "issue": "infra/production#1"},
    ]


@pytest.mark.parametrize(
    "body",
    [
        "`@alice`",
        "``code with @alice and ` inside``",
        "```\n@alice\n```",
        "~~~\n@alice\n~~~",
        "@\u200balice",
        "@\u2060alice",
        "\\@alice",
        "mail alice@example.com",
        "<!-- @alice -->",
    ],
)
def test_mentions_broken_do_not_notify(
    api: Api, gitlab_sandbox: GitLabSandbox, body: str
) -> None:
    api.new_issue()

    api.note(1, body)

    assert gitlab_sandbox.notifications == []


def test_description_edit_notifies_new_mentions(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    api.new_issue(description="Lead: @alice")

    api.put(f"{PRODUCTION}/issues/1", json={"description": "Lead: @alice\nComms: @bob"})

    assert [entry["mention"] for entry in gitlab_sandbox.notifications] == [
        "alice",
        "bob",
    ]


# GraphQL timeline events


def test_timeline_event_created(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    incident = api.new_issue(issue_type="incident")

    data = api.graphql(
        TIMELINE_MUTATION,
        {
            "input": {
                "incidentId": f"gid://gitlab/Issue/{incident['id']}",
                "note": "Failover started",
                "occurredAt": "2025-06-06T22:10:00+02:00",
                "timelineEventTagNames": ["start time"],
            }
        },
    )

    payload = data["data"]["timelineEventCreate"]
    assert payload["errors"] == []
    event = payload["timelineEvent"]
    assert event["id"].startswith("gid://gitlab/IncidentManagement::TimelineEvent/")
    assert event["note"] == "Failover started"
    assert event["occurredAt"] == "2025-06-06T20:10:00Z"
    stored_event = stored(gitlab_sandbox)["timeline_events"][0]
    assert stored_event["note"] == "Failover started"
    assert stored_event["tags"] == ["Start time"]


def test_timeline_event_inline_input(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    incident = api.new_issue(issue_type="incident")
    query = (
        "mutation { timelineEventCreate(input: {incidentId: "
        f'"gid://gitlab/Issue/{incident["id"]}", note: "Paged \\"DBA\\"", '
        'occurredAt: "2025-06-06T22:10:00Z"}) { timelineEvent { note } errors } }'
    )

    data = api.graphql(query, {})

    assert data["data"]["timelineEventCreate"]["timelineEvent"]["note"] == 'Paged "DBA"'
    assert len(stored(gitlab_sandbox)["timeline_events"]) == 1


def test_timeline_event_rejections(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    plain = api.new_issue()
    incident = api.new_issue(issue_type="incident")

    def create(issue_id: int, note: str = "x", tags: list[str] | None = None) -> Any:
        event: dict[str, Any] = {
            "incidentId": f"gid://gitlab/Issue/{issue_id}",
            "note": note,
            "occurredAt": "2025-06-06T22:10:00Z",
        }
        if tags is not None:
            event["timelineEventTagNames"] = tags
        return api.graphql(TIMELINE_MUTATION, {"input": event})

    not_incident = create(plain["id"])["data"]["timelineEventCreate"]
    unknown_tag = create(incident["id"], tags=["Lunch"])["data"]["timelineEventCreate"]
    too_long = create(incident["id"], note="x" * 281)["data"]["timelineEventCreate"]
    missing = create(999999)

    assert not_incident["timelineEvent"] is None
    assert "insufficient permissions" in not_incident["errors"][0]
    assert unknown_tag["errors"] == ['Following tags don\'t exist: ["lunch"]']
    assert too_long["errors"] == ["Note is too long (maximum is 280 characters)"]
    assert missing["data"]["timelineEventCreate"] is None
    assert "does not exist" in missing["errors"][0]["message"]
    assert stored(gitlab_sandbox, 2)["timeline_events"] == []


def test_graphql_unsupported_field(api: Api) -> None:
    data = api.graphql(
        "mutation { issueSetEscalationStatus(input: {}) { errors } }", {}
    )

    assert "data" not in data
    assert "issueSetEscalationStatus" in data["errors"][0]["message"]


# Fault injection and the request log


def test_fail_next_429_then_normal(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()
    gitlab_sandbox.fail_next("POST", r"/issues/\d+/notes$", 429, retry_after=7)

    limited = api.note(1, "first try")
    normal = api.note(1, "second try")

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.text == "Retry later\n"
    assert normal.status_code == 201
    assert [note["body"] for note in stored(gitlab_sandbox)["notes"]] == ["second try"]


def test_fail_next_500_times_and_cancel(
    api: Api, gitlab_sandbox: GitLabSandbox
) -> None:
    api.new_issue()
    gitlab_sandbox.fail_next("GET", r"/issues/1$", 500, times=5)

    first = api.get(f"{PRODUCTION}/issues/1")
    second = api.get(f"{PRODUCTION}/issues/1")
    gitlab_sandbox.fail_next("GET", r"/issues/1$", 500, times=0)
    third = api.get(f"{PRODUCTION}/issues/1")

    assert first.status_code == 500
    assert first.json() == {"message": "500 Internal Server Error"}
    assert second.status_code == 500
    assert third.status_code == 200


def test_delay_next_provokes_timeout(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()
    gitlab_sandbox.delay_next("GET", r"/issues/1$", 1.0)

    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get(f"{PRODUCTION}/issues/1", timeout=0.2)
    after = api.get(f"{PRODUCTION}/issues/1", timeout=5)

    assert after.status_code == 200


def test_request_log_and_reset(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    api.new_issue()
    api.note(1, "@alice")

    before = list(gitlab_sandbox.requests)
    gitlab_sandbox.reset_log()

    assert before == [
        ("POST", "/api/v4/projects/infra%2Fproduction/issues"),
        ("POST", "/api/v4/projects/infra%2Fproduction/issues/1/notes"),
    ]
    assert gitlab_sandbox.requests == []
    assert gitlab_sandbox.notifications == []


def test_direct_changes_skip_the_log(gitlab_sandbox: GitLabSandbox) -> None:
    created = gitlab_sandbox.create_issue_directly(
        "infra/production", title="Registry slow", issue_type="incident", labels=["s1"]
    )
    edited = gitlab_sandbox.edit_issue_directly(
        "infra/production", 1, description="Runbook: see wiki"
    )

    assert created["issue_type"] == "incident"
    assert created["labels"] == ["s1"]
    assert edited["description"] == "Runbook: see wiki"
    assert gitlab_sandbox.requests == []


def test_direct_issue_with_chosen_iid(api: Api, gitlab_sandbox: GitLabSandbox) -> None:
    first = gitlab_sandbox.create_issue_directly(
        "infra/production", title="Old bug", iid=1187
    )
    lower = gitlab_sandbox.create_issue_directly(
        "infra/production", title="Older bug", iid=5
    )
    with pytest.raises(ValueError, match="iid 1187 is invalid or taken"):
        gitlab_sandbox.create_issue_directly(
            "infra/production", title="Same number", iid=1187
        )
    with pytest.raises(ValueError, match="iid 0 is invalid"):
        gitlab_sandbox.create_issue_directly("infra/production", title="Zero", iid=0)
    with pytest.raises(ValueError, match="400"):
        gitlab_sandbox.create_issue_directly("infra/production", title="", iid=9)
    following = api.new_issue(title="Next bug")

    assert first["iid"] == 1187
    assert first["web_url"].endswith("/infra/production/-/issues/1187")
    assert first["references"]["full"] == "infra/production#1187"
    assert lower["iid"] == 5
    assert following["iid"] == 1188
    assert gitlab_sandbox.issue("infra/production", 1187)["title"] == "Old bug"
    assert [issue["iid"] for issue in gitlab_sandbox.issues("infra/production")] == [
        5,
        1187,
        1188,
    ]


# Command line and the PagerDuty placeholder


def test_command_line_writes_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--env-file",
            str(env_file),
            "--tier",
            "premium",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = env_file.read_text().splitlines()
        values = dict(line.split("=", 1) for line in lines)
        version = requests.get(
            f"{values['GITLAB_URL']}/api/v4/version",
            headers={"PRIVATE-TOKEN": values["GITLAB_TOKEN"]},
            timeout=5,
        )
        # The PagerDuty sandbox serves HTTPS by default, trusted through the
        # CA bundle it prints, and its demo account has this routing key.
        event = requests.post(
            f"{values['PAGERDUTY_EVENTS_URL']}/v2/enqueue",
            json={
                "routing_key": IMOC_ROUTING_KEY,
                "event_action": "trigger",
                "dedup_key": "k1",
                "payload": {
                    "summary": "Checkout errors",
                    "source": "incidentbot",
                    "severity": "critical",
                },
            },
            verify=values["PAGERDUTY_CA_BUNDLE"],
            timeout=5,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=10)

    assert sorted(values) == [
        "GITLAB_TOKEN",
        "GITLAB_URL",
        "PAGERDUTY_API_KEY",
        "PAGERDUTY_API_URL",
        "PAGERDUTY_CA_BUNDLE",
        "PAGERDUTY_EVENTS_URL",
        "PAGERDUTY_FROM",
    ]
    assert values["GITLAB_URL"].startswith("http://127.0.0.1:")
    assert values["PAGERDUTY_EVENTS_URL"].startswith("https://127.0.0.1:")
    assert version.status_code == 200
    assert event.status_code == 202
    assert event.json()["dedup_key"] == "k1"
    assert stdout.splitlines() == lines
    assert process.returncode == 0
    assert not env_file.exists()


def test_pagerduty_placeholder() -> None:
    pagerduty = PagerDutySandbox()
    pagerduty.start()
    try:
        event = requests.post(
            f"{pagerduty.url}/v2/enqueue",
            json={"routing_key": "r", "event_action": "trigger"},
            timeout=5,
        )
        incidents = requests.get(f"{pagerduty.url}/incidents", timeout=5)
    finally:
        pagerduty.stop()

    assert event.status_code == 202
    assert event.json()["status"] == "success"
    assert event.json()["dedup_key"]
    assert incidents.json()["incidents"] == []
    assert pagerduty.events[0]["event_action"] == "trigger"


def test_sandbox_binds_loopback_by_default() -> None:
    sandbox = GitLabSandbox(projects=())
    sandbox.start()
    try:
        assert sandbox.url.startswith("http://127.0.0.1:")
    finally:
        sandbox.stop()


def test_issue_web_url_shows_page() -> None:
    with GitLabSandbox() as server:
        server.create_issue_directly(
            "infra/production", title="Checkout <errors>", description="Rolling back"
        )
        issue = server.issue("infra/production", 1)

        page = requests.get(issue["web_url"], timeout=5)
        missing = requests.get(issue["web_url"] + "0", timeout=5)

    assert page.status_code == 200
    assert "Checkout &lt;errors&gt;" in page.text
    assert "Rolling back" in page.text
    assert missing.status_code == 404
