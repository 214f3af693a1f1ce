"""GitLab calls for follow-up issues: create, link, move, label and assign.

This module is part of the GitLab adapter: FollowUpIssues sends its requests
through a GitLab instance, so they share its client, timeout, bounded
retries and error translation, and every failure is a GitLabError. A request
that may have reached GitLab is never sent twice. Instead, running an
operation again finds what the first attempt did: a link that exists already
counts as made, and an issue that an earlier move put into the target
project counts as moved.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import gitlab.exceptions
import requests

from incidentbot.gitlab_api import (
    GitLab,
    GitLabError,
    Issue,
    _request_not_sent,
    check_label_names,
)
from incidentbot.gitlab_text import defuse_mentions, inert

log = logging.getLogger("incidentbot.gitlab")

# GitLab usernames: letters, digits, "_", "." and "-", not starting with "-".
_USERNAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.\-]*")


@dataclass(frozen=True)
class GitLabUser:
    """A GitLab user account, as GET /users lists it."""

    id: int
    username: str
    name: str
    state: str


@dataclass(frozen=True)
class IssueLink:
    """The link between two issues that link_issues made or found.

    created is False when the two issues were linked already.
    """

    id: int
    link_type: str
    created: bool


@dataclass(frozen=True)
class LinkedIssue:
    """An issue linked to another one, with the id and type of the link."""

    link_id: int
    link_type: str
    issue: Issue


@dataclass(frozen=True)
class MovedIssue:
    """The outcome of move_issue.

    issue is the issue in the target project. dropped_labels are the labels
    of the original that the target project lacks, which GitLab removes on
    a move. already_there is True when nothing was sent because the issue
    was in the target project already, directly or through an earlier move
    (perhaps one whose response was lost).
    """

    issue: Issue
    dropped_labels: tuple[str, ...]
    already_there: bool


class MoveRefusal(StrEnum):
    """The reason GitLab will not move an issue."""

    # GitLab moves an issue only once, even after it is reopened.
    MOVED_BEFORE = "moved_before"
    # Some older GitLab versions refuse to move a closed issue.
    CLOSED = "closed"
    # GitLab moves issues and incidents, not tasks or test cases.
    ISSUE_TYPE = "issue_type"
    # The bot's GitLab user may not manage issues in one of the projects.
    PERMISSIONS = "permissions"


class MoveRefused(GitLabError):
    """A GitLabError for a move that GitLab will not make, with its reason.

    status is None when the bot did not send the move because the issue
    shows that GitLab would refuse it (moved_to_id is set).
    """

    def __init__(
        self, action: str, status: int | None, reason: MoveRefusal, sentence: str
    ) -> None:
        super().__init__(action, status, reason.value, sentence=sentence)
        self.reason = reason


class UnknownLabels(ValueError):
    """Labels that a project lacks, so adding them would create new labels."""

    def __init__(self, project: str, missing: Sequence[str], known: set[str]) -> None:
        self.project = project
        self.missing = tuple(missing)
        listed = ", ".join(repr(name) for name in self.missing)
        plural = "labels" if len(self.missing) > 1 else "label"
        sentence = f"{project} has no {plural} {listed}"
        hints = _case_hints(self.missing, known)
        if hints:
            sentence += f" (did you mean {hints}?)"
        sentence += ": check the spelling, or create the label in GitLab first."
        super().__init__(sentence)


class FollowUpIssues:
    """The GitLab calls that follow-up commands make, on top of a GitLab adapter.

    Projects are given as a full path ("sre/follow-ups") or a numeric id, and
    issues as a project and an iid.
    """

    def __init__(self, gitlab: GitLab) -> None:
        self.gitlab = gitlab
        self._project_ids: dict[str, int] = {}
        self._project_ids_lock = threading.Lock()

    # Projects and users

    def project_id(self, project: str | int) -> int:
        """Return a project's numeric id, looking a path up once and caching it."""
        if isinstance(project, int) or project.isdigit():
            return int(project)
        path = project.strip("/")
        with self._project_ids_lock:
            cached = self._project_ids.get(path.lower())
        if cached is not None:
            return cached
        action = f"looking up project {path}"
        try:
            with self.gitlab._calling(action):
                found = self.gitlab._client.projects.get(path, **self.gitlab._options)
        except GitLabError as error:
            if error.status != 404:
                raise
            raise GitLabError(
                action,
                404,
                error.message,
                sentence=(
                    f"GitLab has no project {path} (404): check the path, and "
                    "that the bot's GitLab user is a member of the project."
                ),
            ) from error
        project_id = int(found.id)
        with self._project_ids_lock:
            self._project_ids[path.lower()] = project_id
        self.gitlab._remember_path(project_id, str(found.path_with_namespace))
        return project_id

    def find_user(self, username: str) -> GitLabUser | None:
        """Return the GitLab user with this username (a leading @ is ignored)."""
        name = _clean_username(username)
        with self.gitlab._calling(f"looking up GitLab user {name}"):
            found = self.gitlab._client.users.list(
                username=name, get_all=False, **self.gitlab._options
            )
        for user in found:
            data = user.attributes
            if str(data.get("username", "")).lower() == name.lower():
                return GitLabUser(
                    id=int(data["id"]),
                    username=str(data["username"]),
                    name=str(data.get("name") or ""),
                    state=str(data.get("state") or ""),
                )
        return None

    # Issues

    def create_issue(
        self,
        project: str | int,
        title: str,
        description: str,
        labels: Sequence[str] = (),
        *,
        confidential: bool = False,
    ) -> Issue:
        """Create a plain issue with one request.

        title and description are text from people, so mentions in both are
        defused and the description is made inert (no quick action runs).
        GitLab creates any label the project lacks.
        """
        check_label_names(labels)
        data: dict[str, Any] = {
            "title": defuse_mentions(title),
            "description": inert(description),
            "issue_type": "issue",
            "confidential": confidential,
        }
        if labels:
            data["labels"] = ",".join(labels)
        gitlab_adapter = self.gitlab
        with gitlab_adapter._calling(
            f"creating an issue in {gitlab_adapter._describe(project)}"
        ):
            created = gitlab_adapter._project(project).issues.create(
                data, **gitlab_adapter._options
            )
        return gitlab_adapter._issue(created.attributes)

    def create_issue_once(
        self,
        project: str | int,
        title: str,
        description: str,
        started: datetime,
        labels: Sequence[str] = (),
        *,
        confidential: bool = False,
    ) -> Issue:
        """Create a plain issue; after a lost response, find it instead.

        A request that timed out may still have reached GitLab, so before
        reporting the failure this looks for an issue with the title created
        since `started`, which would be made twice by a second try.
        """
        try:
            return self.create_issue(
                project, title, description, labels, confidential=confidential
            )
        except GitLabError as error:
            if error.status is not None:
                raise
            found = self.find_issue(project, title, started)
            if found is None:
                raise
            return found

    def find_issue(
        self, project: str | int, title: str, created_after: datetime
    ) -> Issue | None:
        """Return the newest plain issue with this title created since then.

        After create_issue failed without a response, this shows whether
        GitLab created the issue anyway. title is the title as given to
        create_issue.
        """
        return self.gitlab.find_new_issue(
            project, defuse_mentions(title), created_after, "issue"
        )

    def add_labels(
        self,
        project: str | int,
        iid: int,
        labels: Sequence[str],
        *,
        allow_new: bool = False,
    ) -> Issue:
        """Add labels to an issue with one PUT and return the issue.

        GitLab would create every label the project lacks, so a typo would
        become a new label. Unless allow_new is True, the project's labels
        are read first and UnknownLabels (a ValueError) is raised for names
        it lacks, before anything changes.
        """
        check_label_names(labels)
        if not labels:
            return self.gitlab.get_issue(project, iid)
        if not allow_new:
            known = self.gitlab.label_names(project)
            missing = [name for name in labels if name not in known]
            if missing:
                raise UnknownLabels(self.gitlab._describe(project), missing, known)
        return self.gitlab.edit_issue(project, iid, add_labels=labels)

    def set_assignee(self, project: str | int, iid: int, username: str) -> Issue:
        """Make one GitLab user the only assignee of an issue, and return it.

        Raises GitLabError naming the username when GitLab has no such user,
        when the user is blocked, or when GitLab did not assign the user
        (GitLab drops, without an error, an assignee who cannot see the
        project).
        """
        name = _clean_username(username)
        ref = self.gitlab._ref(project, iid)
        action = f"assigning {name} to {ref}"
        user = self.find_user(name)
        if user is None:
            raise GitLabError(
                action,
                200,
                f"no user named {name}",
                sentence=(
                    f"GitLab has no user named {name!r}: check the GitLab "
                    "username, which can differ from the Slack name."
                ),
            )
        if user.state != "active":
            raise GitLabError(
                action,
                200,
                f"user {user.username} is {user.state}",
                sentence=(
                    f"GitLab user {user.username!r} is {user.state}, so they "
                    "cannot own an issue: choose another owner."
                ),
            )

        gitlab_adapter = self.gitlab
        with gitlab_adapter._calling(action):
            data = gitlab_adapter._project(project).issues.update(
                iid, {"assignee_ids": [user.id]}, **gitlab_adapter._options
            )
        issue = gitlab_adapter._issue(data)
        assigned = {assignee.lower() for assignee in issue.assignees}
        if user.username.lower() not in assigned:
            raise GitLabError(
                action,
                200,
                f"{user.username} was not assigned",
                sentence=(
                    f"GitLab did not assign {user.username} to {ref}, which "
                    "happens when the user cannot see the project: give them "
                    f"access to {issue.project_path} or choose another owner."
                ),
            )
        return issue

    # Links

    def linked_issues(self, project: str | int, iid: int) -> list[LinkedIssue]:
        """Return the issues linked to an issue, oldest link first."""
        gitlab_adapter = self.gitlab
        with gitlab_adapter._calling(
            f"listing the issues linked to {gitlab_adapter._ref(project, iid)}"
        ):
            issue = gitlab_adapter._project(project).issues.get(iid, lazy=True)
            found = issue.links.list(get_all=True, **gitlab_adapter._options)
        return [
            LinkedIssue(
                link_id=int(item.attributes["issue_link_id"]),
                link_type=str(item.attributes.get("link_type") or "relates_to"),
                issue=gitlab_adapter._issue(item.attributes),
            )
            for item in found
        ]

    def link_issues(
        self,
        source_project: str | int,
        source_iid: int,
        target_project: str | int,
        target_iid: int,
    ) -> IssueLink:
        """Link two issues with a relates_to link and return the link.

        Issues that are linked already (in either direction, which GitLab
        rejects with 409) count as linked, with created False. Two requests:
        the POST, whose response lacks the link id, and a listing of the
        source's links that shows it.
        """
        gitlab_adapter = self.gitlab
        source_ref = gitlab_adapter._ref(source_project, source_iid)
        target_ref = gitlab_adapter._ref(target_project, target_iid)
        action = f"linking {source_ref} to {target_ref}"
        payload = {
            "target_project_id": target_project,
            "target_issue_iid": target_iid,
            "link_type": "relates_to",
        }
        created = True
        with gitlab_adapter._calling(action):
            issue = gitlab_adapter._project(source_project).issues.get(
                source_iid, lazy=True
            )
            try:
                issue.links.create(payload, **gitlab_adapter._options)
            except gitlab.exceptions.GitlabCreateError as error:
                if error.response_code != 409 or "already" not in str(
                    error.error_message
                ):
                    raise
                log.info("%s and %s are linked already", source_ref, target_ref)
                created = False

        for linked in self.linked_issues(source_project, source_iid):
            if _is_issue(linked.issue, target_project, target_iid):
                return IssueLink(linked.link_id, linked.link_type, created)
        raise GitLabError(
            action,
            200,
            "the link is missing from the list of links",
            sentence=(
                f"GitLab accepted the link from {source_ref} to {target_ref} "
                f"but does not list it on {source_ref}: check the issue in GitLab."
            ),
        )

    def unlink(self, project: str | int, iid: int, link_id: int) -> None:
        """Delete an issue link. A link that is already gone is not an error."""
        gitlab_adapter = self.gitlab
        ref = gitlab_adapter._ref(project, iid)
        with gitlab_adapter._calling(f"deleting link {link_id} of {ref}"):
            issue = gitlab_adapter._project(project).issues.get(iid, lazy=True)
            try:
                issue.links.delete(link_id, **gitlab_adapter._options)
            except gitlab.exceptions.GitlabDeleteError as error:
                if error.response_code != 404:
                    raise
                log.info("link %d of %s was deleted already", link_id, ref)

    # Moves

    def move_issue(
        self, project: str | int, iid: int, target_project: str | int
    ) -> MovedIssue:
        """Move an issue to another project and return where it ended up.

        Reads the issue first, so an issue that was moved before is rejected
        (or found in the target project) without a move request. A closed
        issue stays closed, since this method never reopens an issue. Raises
        MoveRefused, a GitLabError with a reason, when GitLab will not move
        the issue.
        """
        gitlab_adapter = self.gitlab
        source = gitlab_adapter.get_issue(project, iid)
        target_id = self.project_id(target_project)
        target_path = gitlab_adapter.project_path(target_id)
        action = f"moving {source.ref} to {target_path}"
        if source.project_id == target_id:
            return MovedIssue(source, (), already_there=True)
        if source.moved_to_id is not None:
            return self._earlier_move(source, target_id, target_path, action)

        try:
            with gitlab_adapter._calling(action):
                issue = gitlab_adapter._project(project).issues.get(iid, lazy=True)
                issue.move(target_id, **gitlab_adapter._options)
        except GitLabError as error:
            raise self._move_error(error, source, target_path, action) from error
        moved = gitlab_adapter._issue(issue.attributes)
        dropped = tuple(name for name in source.labels if name not in moved.labels)
        if dropped:
            log.info(
                "moving %s to %s dropped labels the target lacks: %s",
                source.ref,
                moved.ref,
                ", ".join(dropped),
            )
        return MovedIssue(moved, dropped, already_there=False)

    def _earlier_move(
        self, source: Issue, target_id: int, target_path: str, action: str
    ) -> MovedIssue:
        """Return the copy that an earlier move put into the target project.

        GitLab shows only the copy's global id (moved_to_id), so the target's
        issues with the same title are searched for it. Raises MoveRefused
        when the copy is elsewhere or was renamed.
        """
        gitlab_adapter = self.gitlab
        with gitlab_adapter._calling(
            f"looking for the moved copy of {source.ref} in {target_path}"
        ):
            found = gitlab_adapter._project(target_id).issues.list(
                search=source.title,
                order_by="created_at",
                sort="desc",
                per_page=100,
                get_all=False,
                **gitlab_adapter._options,
            )
        for item in found:
            if item.attributes.get("id") == source.moved_to_id:
                copy = gitlab_adapter._issue(item.attributes)
                dropped = tuple(
                    name for name in source.labels if name not in copy.labels
                )
                return MovedIssue(copy, dropped, already_there=True)
        raise MoveRefused(
            action,
            None,
            MoveRefusal.MOVED_BEFORE,
            f"GitLab will not move {source.ref}: it was moved to another project "
            "before (GitLab moves an issue only once, even after it is reopened). "
            "Move the issue it was moved to instead.",
        )

    def _move_error(
        self, error: GitLabError, source: Issue, target_path: str, action: str
    ) -> GitLabError:
        """Turn GitLab's response to a failed move into an error with the reason."""
        cause = error.__cause__
        if isinstance(cause, requests.exceptions.RequestException):
            if _request_not_sent(cause):
                return error
            return GitLabError(
                action,
                None,
                error.message,
                sentence=(
                    f"{error} The move may still happen: run it again, and the "
                    "bot finds the moved issue instead of moving it twice."
                ),
            )
        if error.status != 400:
            return error
        if source.issue_type not in ("issue", "incident"):
            return MoveRefused(
                action,
                400,
                MoveRefusal.ISSUE_TYPE,
                f"GitLab will not move {source.ref}, which is a {source.issue_type}: "
                "only issues and incidents can be moved.",
            )
        if "permission" not in error.message:
            return error
        if source.state == "closed":
            return MoveRefused(
                action,
                400,
                MoveRefusal.CLOSED,
                f"{source.ref} is closed, and this GitLab will not move a closed "
                "issue. It stays where it is. To move it, reopen it in GitLab first.",
            )
        return MoveRefused(
            action,
            400,
            MoveRefusal.PERMISSIONS,
            f"GitLab refused to move {source.ref} to {target_path} "
            f"({error.message}): the bot's GitLab user needs at least the "
            "Reporter role in both projects.",
        )


def _clean_username(username: str) -> str:
    name = username.strip().removeprefix("@")
    if not _USERNAME.fullmatch(name):
        raise ValueError(
            f"invalid GitLab username {username!r}: a username has letters, "
            "digits, '_', '.' and '-', for example @alice"
        )
    return name


def _is_issue(issue: Issue, project: str | int, iid: int) -> bool:
    if issue.iid != iid:
        return False
    if isinstance(project, int) or project.isdigit():
        return issue.project_id == int(project)
    return issue.project_path.lower() == project.strip("/").lower()


def _case_hints(missing: Sequence[str], known: set[str]) -> str:
    """Return "'Team::A'" style hints for names that differ only in case."""
    by_lower = {name.lower(): name for name in known}
    hints = [by_lower[name.lower()] for name in missing if name.lower() in by_lower]
    return ", ".join(repr(name) for name in hints)
