"""The follow-up part of a replay: what GitLab has before it, and checks after.

The replays paste links to issues that exist before the incident, give them
owners and labels, and move one of them. prepare_gitlab creates those issues
under the numbers the replays use, with the users and labels they need, and
check_followups compares the end state with the expected file's `followups`
block and `incident_review_required`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import requests

from incidentbot.model import FollowUp, Incident
from sandbox.gitlab import GitLabSandbox
from tests.chat import REPLAY_GITLAB_URL
from tests.replay import ReplayRun

# The review project and label that settings.example.toml sets, which the
# replay tests run with.
REVIEW_PROJECT = "infra/incident-reviews"
REVIEW_LABEL = "review-requested"
SECTION_HEADING = re.compile(r"^## ", re.MULTILINE)


def prepare_gitlab(run: ReplayRun, gitlab: GitLabSandbox) -> None:
    """Create the projects, issues, users and labels the replay's follow-ups need."""
    followups = run.expected["followups"]
    projects = [split_ref(item["ref"])[0] for item in followups["linked"]]
    projects += [item["moved_to_project"] or "" for item in followups["linked"]]
    projects += [item["project"] for item in followups["created"]]
    projects += [REVIEW_PROJECT]
    for path in dict.fromkeys(path for path in projects if path):
        gitlab.add_project(path)

    for item in followups["linked"]:
        project, iid = split_ref(item["ref"])
        line = item["linked_from_line"]
        url = f"{REPLAY_GITLAB_URL}/{project}/-/issues/{iid}"
        assert url in run.events[line]["text"], (line, url)
        gitlab.create_issue_directly(
            project, title=f"{run.name}: the issue pasted on line {line}", iid=iid
        )
        if item["owner"]:
            gitlab.add_user(item["owner"], item["owner"].capitalize())
        for label in item["labels_added"]:
            gitlab.add_label(project, label)
        # The expected record keeps its labels after the move, and nothing in
        # the replay reports one as dropped, so the target project has them.
        if item["moved_to_project"]:
            for label in item["labels_added"]:
                gitlab.add_label(item["moved_to_project"], label)


def check_followups(
    run: ReplayRun, gitlab: GitLabSandbox, stored: Incident, description: str
) -> None:
    """Check the follow-ups of the incident against the expected file."""
    expected = run.expected["followups"]
    records = stored.followups
    links = linked_refs(gitlab, stored.project, stored.iid)

    for item in expected["linked"]:
        record = linked_record(records, item)
        owners = [item["owner"]] if item["owner"] else []
        assert record.owner == (item["owner"] or ""), record
        assert sorted(record.labels_added) == sorted(item["labels_added"]), record
        assert record.corrective is item["corrective"], record
        assert record.ref in links, (record.ref, links)
        issue = gitlab.issue(record.project, record.iid)
        assert [user["username"] for user in issue["assignees"]] == owners
        project_labels = set(gitlab.labels(record.project))
        for label in item["labels_added"]:
            assert (label in issue["labels"]) is (label in project_labels), (
                label,
                issue["labels"],
            )
        project, iid = split_ref(item["ref"])
        if item["moved_to_project"]:
            original = gitlab.issue(project, iid)
            assert original["state"] == "closed"
            assert original["moved_to_id"] == issue["id"]
        for line in item["pasted_again_on_lines"]:
            url = f"{REPLAY_GITLAB_URL}/{project}/-/issues/{iid}"
            assert url in run.events[line]["text"], (line, url)
        same = [followup for followup in records if names(followup, item["ref"])]
        assert len(same) == 1, same

    for item in expected["created"]:
        issues = [
            issue
            for issue in gitlab.issues(item["project"])
            if issue["title"] == item["title"]
        ]
        assert len(issues) == 1, issues
        ref = issues[0]["references"]["full"]
        created = [followup for followup in records if followup.ref == ref]
        assert len(created) == 1, (ref, records)
        assert created[0].source == "added"
        assert ref in links, (ref, links)

    assert len(records) == len(expected["linked"]) + len(expected["created"]), [
        followup.ref for followup in records
    ]
    followup_links = [ref for ref in links if not ref.startswith(f"{REVIEW_PROJECT}#")]
    assert sorted(followup_links) == sorted(followup.ref for followup in records)

    corrective = corrective_actions(description)
    corrective_refs = {
        current_ref(records, ref) for ref in expected["corrective_actions"]
    }
    for followup in records:
        listed = f"[{followup.ref}]" in corrective
        assert listed is (followup.ref in corrective_refs), (followup.ref, corrective)

    for item in expected["not_followups"]:
        project, _, number = item["ref"].partition("!")
        url = f"{REPLAY_GITLAB_URL}/{project}/-/merge_requests/{number}"
        assert url in run.events[item["line"]]["text"], item
        mixed_up = [
            followup
            for followup in records
            if followup.project == project and followup.iid == int(number)
        ]
        assert mixed_up == [], item
        assert f"{project}#{number}" not in links

    reviews = [
        issue
        for issue in gitlab.issues(REVIEW_PROJECT)
        if REVIEW_LABEL in issue["labels"]
        and issue["references"]["full"] in review_links(gitlab, stored)
    ]
    assert len(reviews) == (1 if run.expected["incident_review_required"] else 0)


def split_ref(ref: str) -> tuple[str, int]:
    project, _, iid = ref.rpartition("#")
    return project, int(iid)


def names(followup: FollowUp, ref: str) -> bool:
    """Tell whether a follow-up is the issue ref, or was before a move."""
    return followup.ref == ref or ref in followup.moved_from


def linked_record(records: list[FollowUp], item: dict[str, Any]) -> FollowUp:
    """Return the stored follow-up of an expected linked one, after any move."""
    target = item["moved_to_project"]
    if target is None:
        found = [followup for followup in records if followup.ref == item["ref"]]
    else:
        found = [
            followup
            for followup in records
            if followup.project == target and item["ref"] in followup.moved_from
        ]
    assert len(found) == 1, (item["ref"], [followup.ref for followup in records])
    return found[0]


def current_ref(records: list[FollowUp], ref: str) -> str:
    found = [followup.ref for followup in records if names(followup, ref)]
    assert len(found) == 1, (ref, found)
    return found[0]


def corrective_actions(description: str) -> str:
    """Return the text of the description's Corrective actions section."""
    heading = "## Corrective actions\n"
    assert heading in description, description
    rest = description.split(heading, 1)[1]
    return SECTION_HEADING.split(rest, 1)[0]


def linked_refs(gitlab: GitLabSandbox, project: str, iid: int) -> list[str]:
    """Return the issues linked to an issue, as GitLab's issue links API lists them."""
    response = requests.get(
        f"{gitlab.url}/api/v4/projects/{quote(project, safe='')}/issues/{iid}/links",
        headers={"PRIVATE-TOKEN": gitlab.token},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return [str(linked["references"]["full"]) for linked in response.json()]


def review_links(gitlab: GitLabSandbox, stored: Incident) -> list[str]:
    return [
        ref
        for ref in linked_refs(gitlab, stored.project, stored.iid)
        if ref.startswith(f"{REVIEW_PROJECT}#")
    ]
