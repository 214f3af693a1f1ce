"""The issue links API of the GitLab sandbox: list, create, read and delete.

The checks, their order and their messages follow GitLab's
lib/api/issue_links.rb, IssuableLinks::CreateService and the IssueLink
validations, with the license check of GitLab EE for blocking links.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab_errors import ApiError, bad_request, not_found, record_not_found
from sandbox.gitlab_store import (
    LINK_TYPES,
    IssueRecord,
    LinkRecord,
    ProjectRecord,
    Store,
)

# IssuableLink::MAX_LINKS_COUNT: the links one issue may have.
MAX_LINKS = 100


def list_links(store: Store, issue: IssueRecord) -> list[dict[str, Any]]:
    """Return the issues linked to issue, each with its link's id and type."""
    issue_id = int(issue.data["id"])
    entries = []
    for link in store.links_of(issue_id):
        other = store.issue_by_global_id(link.other_end(issue_id))
        if other is None:
            continue
        entry = other.as_json()
        entry["issue_link_id"] = link.id
        entry["link_type"] = link.type_seen_from(issue_id)
        entry["link_created_at"] = link.created_at
        entry["link_updated_at"] = link.updated_at
        entries.append(entry)
    return entries


def create_link(
    store: Store,
    project: ProjectRecord,
    issue: IssueRecord,
    params: dict[str, Any],
    *,
    premium: bool,
) -> dict[str, Any]:
    """Link issue to the target that params name and return the new link.

    Raises ApiError with GitLab's status and body. The status is 400 for a
    missing or invalid parameter, 403 for a blocking link on Free and 404 for
    an unknown target project or issue. It is 409 when the two issues are
    linked already (in either direction) and 422 for a link to itself or past
    100 links.
    """
    missing = [
        name
        for name in ("target_project_id", "target_issue_iid")
        if params.get(name) in (None, "")
    ]
    if missing:
        listed = ", ".join(f"{name} is missing" for name in missing)
        raise bad_request({"error": listed})
    link_type = params.get("link_type")
    if link_type is not None and link_type not in LINK_TYPES:
        raise bad_request({"error": "link_type does not have a valid value"})
    target_project = store.find_project(str(params["target_project_id"]).strip())
    if target_project is None:
        raise not_found("Project")
    target_iid = str(params["target_issue_iid"]).strip()
    target = None
    if target_iid.isdigit():
        target = target_project.issues.get(int(target_iid))
    if target is None:
        raise record_not_found()

    if link_type in ("blocks", "is_blocked_by") and not premium:
        message = "Blocked issues not available for current license"
        raise ApiError(403, {"message": message})
    source_id = int(issue.data["id"])
    target_id = int(target.data["id"])
    if store.link_between(source_id, target_id) is not None:
        raise ApiError(409, {"message": "Issue(s) already assigned"})
    reference = _reference(target, target_project, project)
    if target_id == source_id:
        raise _cannot_add(reference, "cannot be related to itself")
    for end in (source_id, target_id):
        if len(store.links_of(end)) >= MAX_LINKS:
            raise _cannot_add(
                reference,
                "This issue would exceed the maximum number of linked issues "
                f"({MAX_LINKS}).",
            )

    # GitLab stores is_blocked_by as blocks in the other direction.
    if link_type == "is_blocked_by":
        link = store.add_link(target_id, source_id, "blocks")
    else:
        link = store.add_link(source_id, target_id, link_type or "relates_to")
    issue.touch()
    target.touch()
    return link_json(store, link)


def find_link(store: Store, issue: IssueRecord, link_id_text: str) -> LinkRecord:
    """Return the link with this id, raising a 404 unless it belongs to issue."""
    link = store.links.get(int(link_id_text)) if link_id_text.isdigit() else None
    issue_id = int(issue.data["id"])
    if link is None or issue_id not in (link.source_id, link.target_id):
        raise record_not_found()
    return link


def delete_link(store: Store, link: LinkRecord) -> dict[str, Any]:
    """Delete a link and return it as the DELETE response shows it."""
    shown = link_json(store, link)
    del store.links[link.id]
    for issue_id in (link.source_id, link.target_id):
        linked = store.issue_by_global_id(issue_id)
        if linked is not None:
            linked.touch()
    return shown


def link_json(store: Store, link: LinkRecord) -> dict[str, Any]:
    """Return a link as POST, GET and DELETE of one link return it."""
    source = store.issue_by_global_id(link.source_id)
    target = store.issue_by_global_id(link.target_id)
    return {
        "source_issue": source.as_json() if source is not None else None,
        "target_issue": target.as_json() if target is not None else None,
        "link_type": link.link_type,
    }


def _reference(
    target: IssueRecord, target_project: ProjectRecord, project: ProjectRecord
) -> str:
    # GitLab names the target relative to the source issue's project.
    if target_project.id == project.id:
        return f"#{target.iid}"
    return f"{target_project.path}#{target.iid}"


def _cannot_add(reference: str, problem: str) -> ApiError:
    return ApiError(422, {"message": f"{reference} cannot be added: {problem}"})
