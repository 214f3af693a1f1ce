"""POST /projects/:id/issues/:iid/move in the GitLab sandbox.

As in GitLab's Issues::MoveService: the issue is copied into the target
project under a new iid with its title, description, state, type,
confidentiality, assignees and notes, and with only the labels that the
target project has. The original is closed, gets moved_to_id, and hands its
issue links to the copy (the links keep their ids). An issue that was moved
once can never be moved again, even after it is reopened.
"""

from __future__ import annotations

import copy
from typing import Any

from sandbox.gitlab_errors import bad_request, not_found
from sandbox.gitlab_store import BOT_USER, IssueRecord, ProjectRecord, Store, now_iso

# GitLab words a refusal to move an issue that was moved before (and, in
# older versions, a closed issue) as a permission problem.
INSUFFICIENT_PERMISSIONS = "Cannot move issue due to insufficient permissions!"
SAME_PROJECT = "Cannot move issue to project it originates from!"
# Issues::MoveService#verify_can_move_issue! checks supports_move_and_clone?.
MOVABLE_TYPES = ("issue", "incident")


def find_target_project(store: Store, params: dict[str, Any]) -> ProjectRecord:
    """Return the project that to_project_id names, which must be a number.

    The API declares to_project_id as an Integer, so a project path is a 400
    and not a lookup by path.
    """
    value = params.get("to_project_id")
    if value is None or value == "":
        raise bad_request({"error": "to_project_id is missing"})
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit():
        raise bad_request({"error": "to_project_id is invalid"})
    target = store.projects.get(int(text))
    if target is None:
        raise not_found("Project")
    return target


def move_issue(
    store: Store,
    project: ProjectRecord,
    issue: IssueRecord,
    target: ProjectRecord,
    *,
    base_url: str,
    move_closed: bool,
) -> IssueRecord:
    """Move issue into target and return the new issue.

    move_closed False rejects a closed issue with the same 400 as a moved
    one, as some older GitLab versions did. Current GitLab moves it, and the
    copy stays closed. Every rejection is an ApiError 400 with GitLab's
    message.
    """
    data = issue.data
    if data["issue_type"] not in MOVABLE_TYPES:
        message = f"Cannot move issues of '{data['issue_type']}' type."
        raise bad_request({"message": message})
    if data["moved_to_id"] is not None:
        raise bad_request({"message": INSUFFICIENT_PERMISSIONS})
    if data["state"] == "closed" and not move_closed:
        raise bad_request({"message": INSUFFICIENT_PERMISSIONS})
    if target.id == project.id:
        raise bad_request({"message": SAME_PROJECT})

    moved = _copy_into(store, issue, target, base_url)
    target.issues[moved.iid] = moved
    store.repoint_links(int(data["id"]), int(moved.data["id"]))

    if data["state"] == "opened":
        data["state"] = "closed"
        data["closed_at"] = now_iso()
        data["closed_by"] = dict(BOT_USER)
    data["moved_to_id"] = moved.data["id"]
    issue.touch()
    return moved


def _copy_into(
    store: Store, issue: IssueRecord, target: ProjectRecord, base_url: str
) -> IssueRecord:
    # NOTE: GitLab also rewrites short references in the description (#12 to
    # group/project#12) and adds "moved to" and "moved from" system notes.
    # The sandbox keeps the description as it is, adds no system note and
    # does not copy incident timeline events.
    data = copy.deepcopy(issue.data)
    iid = target.next_iid
    target.next_iid += 1
    data.update(
        {
            "id": store.new_issue_id(),
            "iid": iid,
            "project_id": target.id,
            "labels": [name for name in issue.labels if name in target.labels],
            "milestone": None,
            "moved_to_id": None,
            "updated_at": now_iso(),
            "web_url": f"{base_url}/{target.path}/-/issues/{iid}",
            "references": {
                "short": f"#{iid}",
                "relative": f"#{iid}",
                "full": f"{target.path}#{iid}",
            },
            "_links": {
                "self": f"{base_url}/api/v4/projects/{target.id}/issues/{iid}",
                "notes": f"{base_url}/api/v4/projects/{target.id}/issues/{iid}/notes",
                "project": f"{base_url}/api/v4/projects/{target.id}",
            },
        }
    )
    moved = IssueRecord(data=data)
    for note in issue.notes:
        copied = copy.deepcopy(note)
        copied.update(
            {
                "id": store.new_note_id(),
                "noteable_id": data["id"],
                "noteable_iid": iid,
                "project_id": target.id,
            }
        )
        moved.notes.append(copied)
    return moved
