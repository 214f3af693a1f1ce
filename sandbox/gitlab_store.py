"""State of the GitLab sandbox: projects, labels, issues, notes, users and links.

Records keep the JSON that the API returns, so a handler copies rather than
rebuilds it. GitLabSandbox holds one lock around all of this state.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

BOT_USER: dict[str, Any] = {
    "id": 1,
    "username": "incident-bot",
    "name": "Incident Bot",
    "state": "active",
    "locked": False,
    "avatar_url": None,
}

ISSUE_TYPES = ("issue", "incident", "test_case", "task")

# Link types of the issue links API: relates_to on every tier, blocks and
# is_blocked_by on GitLab Premium and up.
LINK_TYPES = ("relates_to", "blocks", "is_blocked_by")

# GitLab predefines these incident timeline tags in every project.
PREDEFINED_TIMELINE_TAGS = (
    "Start time",
    "End time",
    "Impact detected",
    "Response initiated",
    "Impact mitigated",
    "Cause identified",
)

DEFAULT_LABEL_COLOR = "#6699cc"


def now_iso() -> str:
    """Return the current UTC time in GitLab's format, with milliseconds."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def label_scope(name: str) -> str | None:
    """Return the scope of a scoped label (all before the last ``::``)."""
    position = name.rfind("::")
    return name[:position] if position > 0 else None


def merge_labels(
    current: Iterable[str],
    added: Iterable[str],
    removed: Iterable[str] = (),
    *,
    exclusive_scopes: bool,
) -> list[str]:
    """Return the issue's labels after adding and then removing some.

    With exclusive_scopes (GitLab Premium), an added ``scope::value`` label
    drops every other label of that scope, so the last one added wins. On
    Free, labels of one scope pile up. A label both added and removed ends up
    removed, as in GitLab. The result is sorted by name, as the API lists it.
    """
    result = list(current)
    for name in added:
        scope = label_scope(name)
        if exclusive_scopes and scope is not None:
            result = [label for label in result if label_scope(label) != scope]
        if name not in result:
            result.append(name)
    removed_names = set(removed)
    kept = (label for label in result if label not in removed_names)
    return sorted(kept, key=_label_order)


def _label_order(name: str) -> tuple[str, str]:
    return (name.lower(), name)


def text_color_for(color: str) -> str:
    """Return the text color GitLab shows on a label of this background."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(char * 2 for char in digits)
    try:
        red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    except ValueError:
        return "#FFFFFF"
    luminance = 0.299 * red + 0.587 * green + 0.114 * blue
    return "#1F1E24" if luminance > 160 else "#FFFFFF"


@dataclass
class IssueRecord:
    """One issue: its API JSON plus what the API shows elsewhere."""

    data: dict[str, Any]
    notes: list[dict[str, Any]] = field(default_factory=list)
    timeline_events: list[dict[str, Any]] = field(default_factory=list)
    quick_actions_run: list[dict[str, Any]] = field(default_factory=list)

    @property
    def iid(self) -> int:
        return int(self.data["iid"])

    @property
    def labels(self) -> list[str]:
        return list(self.data["labels"])

    def touch(self) -> None:
        """Set updated_at to now, as any change on GitLab does."""
        self.data["updated_at"] = now_iso()

    def as_json(self) -> dict[str, Any]:
        """Return a copy of the issue as GET /issues/:iid returns it."""
        data = copy.deepcopy(self.data)
        data["user_notes_count"] = len(self.notes)
        return data

    def snapshot(self) -> dict[str, Any]:
        """Return the issue JSON plus notes, timeline events and quick actions."""
        data = self.as_json()
        data["notes"] = copy.deepcopy(self.notes)
        data["timeline_events"] = copy.deepcopy(self.timeline_events)
        data["quick_actions_run"] = copy.deepcopy(self.quick_actions_run)
        return data

    def find_note(self, note_id: int) -> dict[str, Any] | None:
        for note in self.notes:
            if note["id"] == note_id:
                return note
        return None


@dataclass
class ProjectRecord:
    """One project with its labels and issues."""

    id: int
    path: str
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, IssueRecord] = field(default_factory=dict)
    next_iid: int = 1

    def as_json(self, base_url: str) -> dict[str, Any]:
        namespace, _, name = self.path.rpartition("/")
        return {
            "id": self.id,
            "name": name,
            "path": name,
            "path_with_namespace": self.path,
            "name_with_namespace": self.path.replace("/", " / "),
            "namespace": {
                "full_path": namespace,
                "path": namespace.rpartition("/")[2],
                "kind": "group",
            },
            "description": "",
            "default_branch": "main",
            "visibility": "private",
            "issues_enabled": True,
            "web_url": f"{base_url}/{self.path}",
            "created_at": "2024-01-01T00:00:00.000Z",
        }


@dataclass
class LinkRecord:
    """A link between two issues, stored once and shown on both of them.

    source_id and target_id are global issue ids, so a link follows an issue
    that moves to another project.
    """

    id: int
    source_id: int
    target_id: int
    link_type: str
    created_at: str
    updated_at: str

    def type_seen_from(self, issue_id: int) -> str:
        """Return the link type as the API lists it on one of the two issues.

        GitLab stores is_blocked_by as blocks in the other direction, so the
        stored type is relates_to or blocks.
        """
        if issue_id == self.target_id and self.link_type == "blocks":
            return "is_blocked_by"
        return self.link_type

    def other_end(self, issue_id: int) -> int:
        return self.target_id if issue_id == self.source_id else self.source_id


class Store:
    """All projects, users and issue links, with GitLab's instance-wide ids."""

    def __init__(self) -> None:
        self.projects: dict[int, ProjectRecord] = {}
        self.users: dict[int, dict[str, Any]] = {int(BOT_USER["id"]): dict(BOT_USER)}
        self.links: dict[int, LinkRecord] = {}
        # Separate, far-apart ranges make a test that mixes up an issue's
        # global id with its iid, or a project id with an issue id, fail.
        self._next_project_id = 101
        self._next_issue_id = 5001
        self._next_note_id = 9001
        self._next_label_id = 301
        self._next_event_id = 701
        self._next_user_id = 2001
        self._next_link_id = 3001

    def add_project(self, path: str) -> ProjectRecord:
        """Return the project at path, creating it when it is missing."""
        existing = self.project_by_path(path)
        if existing is not None:
            return existing
        if "/" not in path.strip("/"):
            raise ValueError(
                f"project path {path!r} needs a namespace, for example infra/{path}"
            )
        record = ProjectRecord(id=self._next_project_id, path=path.strip("/"))
        self._next_project_id += 1
        self.projects[record.id] = record
        return record

    def project_by_path(self, path: str) -> ProjectRecord | None:
        # GitLab finds a project by full path without regard to case.
        lowered = path.strip("/").lower()
        for record in self.projects.values():
            if record.path.lower() == lowered:
                return record
        return None

    def find_project(self, key: str | int) -> ProjectRecord | None:
        """Return the project with this numeric id or full path."""
        if isinstance(key, int) or key.isdigit():
            return self.projects.get(int(key))
        return self.project_by_path(key)

    def group_exists(self, path: str) -> bool:
        """Tell whether path is the namespace of a project or one of its parents."""
        lowered = path.strip("/").lower()
        for record in self.projects.values():
            namespace = record.path.lower().rpartition("/")[0]
            if namespace == lowered or namespace.startswith(lowered + "/"):
                return True
        return False

    def all_issues(self) -> list[IssueRecord]:
        return [
            issue
            for project in self.projects.values()
            for issue in project.issues.values()
        ]

    def issue_by_global_id(self, global_id: int) -> IssueRecord | None:
        for project in self.projects.values():
            for issue in project.issues.values():
                if issue.data["id"] == global_id:
                    return issue
        return None

    def project_of(self, issue: IssueRecord) -> ProjectRecord:
        return self.projects[int(issue.data["project_id"])]

    # Users

    def add_user(
        self, username: str, name: str, state: str = "active"
    ) -> dict[str, Any]:
        """Return the user called username, creating it when it is missing."""
        existing = self.user_by_username(username)
        if existing is not None:
            return existing
        user: dict[str, Any] = {
            "id": self._next_user_id,
            "username": username,
            "name": name,
            "state": state,
            "locked": False,
            "avatar_url": None,
        }
        self.users[self._next_user_id] = user
        self._next_user_id += 1
        return user

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        # GitLab finds a user by username without regard to case.
        lowered = username.lower()
        for user in self.users.values():
            if str(user["username"]).lower() == lowered:
                return user
        return None

    # Issue links

    def links_of(self, issue_id: int) -> list[LinkRecord]:
        """Return the links of one issue, oldest first, as GitLab lists them."""
        found = [
            link
            for link in self.links.values()
            if issue_id in (link.source_id, link.target_id)
        ]
        return sorted(found, key=lambda link: link.id)

    def link_between(self, first_id: int, second_id: int) -> LinkRecord | None:
        """Return the link between two issues in either direction, if any."""
        for link in self.links.values():
            if {link.source_id, link.target_id} == {first_id, second_id}:
                return link
        return None

    def add_link(self, source_id: int, target_id: int, link_type: str) -> LinkRecord:
        stamp = now_iso()
        link = LinkRecord(
            id=self._next_link_id,
            source_id=source_id,
            target_id=target_id,
            link_type=link_type,
            created_at=stamp,
            updated_at=stamp,
        )
        self._next_link_id += 1
        self.links[link.id] = link
        return link

    def repoint_links(self, old_issue_id: int, new_issue_id: int) -> None:
        """Make the links of one issue belong to another, as a move does."""
        for link in self.links.values():
            if link.source_id == old_issue_id:
                link.source_id = new_issue_id
            if link.target_id == old_issue_id:
                link.target_id = new_issue_id

    # Id counters

    def new_issue_id(self) -> int:
        self._next_issue_id += 1
        return self._next_issue_id - 1

    def new_note_id(self) -> int:
        self._next_note_id += 1
        return self._next_note_id - 1

    def new_label_id(self) -> int:
        self._next_label_id += 1
        return self._next_label_id - 1

    def new_event_id(self) -> int:
        self._next_event_id += 1
        return self._next_event_id - 1

    def ensure_label(
        self,
        project: ProjectRecord,
        name: str,
        color: str = DEFAULT_LABEL_COLOR,
        description: str = "",
    ) -> dict[str, Any]:
        """Return the project label called name, creating it when missing."""
        label = project.labels.get(name)
        if label is None:
            label = {
                "id": self.new_label_id(),
                "name": name,
                "color": color,
                "text_color": text_color_for(color),
                "description": description or None,
                "description_html": description,
                "priority": None,
                "is_project_label": True,
                "subscribed": False,
            }
            project.labels[name] = label
        return label
