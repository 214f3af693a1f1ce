"""GitLab quick actions: finding them in Markdown and running them on an issue.

GitLab treats a line as a command when it starts with ``/`` and a known
command name, followed by a space and arguments or by the end of the line.
Lines in fenced code blocks, ``>>>`` blockquote blocks and HTML blocks are
skipped, and a line starting with ``>`` never starts with ``/``. Known
commands are removed from the text whether or not they can run (a /close on
a closed issue is removed and does nothing). Unknown ``/words`` stay as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.gitlab_store import (
    BOT_USER,
    IssueRecord,
    ProjectRecord,
    merge_labels,
    now_iso,
)
from sandbox.markdown import iter_lines

# Commands the sandbox runs.
_RUN = frozenset(
    {
        "close",
        "reopen",
        "title",
        "label",
        "unlabel",
        "relabel",
        "confidential",
        "assign",
        "unassign",
        "severity",
    }
)
# Commands GitLab supports that the sandbox removes from the text and ignores.
_IGNORED = frozenset(
    {
        "due",
        "remove_due_date",
        "todo",
        "done",
        "subscribe",
        "unsubscribe",
        "award",
        "estimate",
        "remove_estimate",
        "spend",
        "milestone",
        "remove_milestone",
        "lock",
        "unlock",
    }
)
_ALIASES = {"labels": "label", "remove_label": "unlabel", "react": "award"}
# Substitutions stay in the text: GitLab appends the face to the argument.
_SUBSTITUTIONS = {"shrug": "¯\\＿(ツ)＿/¯", "tableflip": "(╯°□°)╯︵ ┻━┻"}

_COMMAND_LINE = re.compile(r"^/([A-Za-z_]+)(?:[ ](.*?))?\s*$")
_HTML_OPEN = re.compile(r"^<[^>/!][^>]*>\s*$")
_HTML_CLOSE = re.compile(r"^</[^>]+>\s*$")
_LABEL_REFERENCE = re.compile(r'~"([^"]+)"|~([^\s~"]+)')
_PLAIN_LABEL_NAME = re.compile(r"[A-Za-z0-9_\-?.&]+")
_USERNAME = re.compile(r"@([A-Za-z0-9_][A-Za-z0-9_.\-]*)")

UserLookup = Callable[[str], dict[str, Any] | None]

# Arguments /severity accepts, as in GitLab, and the value it stores.
_SEVERITIES = {
    "CRITICAL": ("critical", "s1", "1"),
    "HIGH": ("high", "s2", "2"),
    "MEDIUM": ("medium", "s3", "3"),
    "LOW": ("low", "s4", "4"),
    "UNKNOWN": ("unknown",),
}


@dataclass(frozen=True)
class Command:
    """One quick action found in a text."""

    name: str
    argument: str


@dataclass
class Outcome:
    """Changes made by running a text's commands, for the API response."""

    changes: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    applied: int = 0
    failed: int = 0


def _canonical_name(word: str) -> str | None:
    name = _ALIASES.get(word.lower(), word.lower())
    if name in _RUN or name in _IGNORED or name in _SUBSTITUTIONS:
        return name
    return None


def extract(text: str) -> tuple[str, list[Command]]:
    """Split text into what GitLab stores and the commands it runs.

    The stored text loses the command lines and trailing whitespace, as in
    GitLab. A substitution such as /shrug leaves its argument and the face.
    """
    kept: list[str] = []
    commands: list[Command] = []
    in_html = False
    for line, in_code in iter_lines(text.replace("\r", ""), multiline_quotes=True):
        if in_code:
            kept.append(line)
            continue
        if in_html:
            in_html = not _HTML_CLOSE.match(line)
            kept.append(line)
            continue
        if _HTML_OPEN.match(line):
            in_html = True
            kept.append(line)
            continue
        match = _COMMAND_LINE.match(line)
        name = _canonical_name(match.group(1)) if match else None
        if match is None or name is None:
            kept.append(line)
            continue
        argument = (match.group(2) or "").strip()
        commands.append(Command(name, argument))
        if name in _SUBSTITUTIONS:
            kept.append(f"{argument} {_SUBSTITUTIONS[name]}".strip())
    return "\n".join(kept).rstrip(), commands


def label_reference(name: str) -> str:
    """Return how GitLab writes a reference to the label called name."""
    if _PLAIN_LABEL_NAME.fullmatch(name):
        return f"~{name}"
    return f'~"{name}"'


def _find_labels(project: ProjectRecord, argument: str) -> list[dict[str, Any]]:
    """Return the existing project labels that argument names, in order.

    Quick actions never create labels: a name that the project lacks is
    skipped, unlike the labels parameter of the issues API.
    """
    if "~" in argument:
        names = [
            match.group(1) or match.group(2)
            for match in _LABEL_REFERENCE.finditer(argument)
        ]
    else:
        names = [part for part in re.split(r"[\s,]+", argument) if part]
    found: list[dict[str, Any]] = []
    for name in names:
        label = project.labels.get(name)
        if label is not None and label not in found:
            found.append(label)
    return found


def _pluralize(word: str, count: int) -> str:
    return word if count == 1 else f"{word}s"


class _Runner:
    """Runs commands on one issue and collects the outcome."""

    def __init__(
        self,
        issue: IssueRecord,
        project: ProjectRecord,
        *,
        premium: bool,
        persisted: bool,
        find_user: UserLookup,
    ) -> None:
        self.issue = issue
        self.project = project
        self.premium = premium
        self.persisted = persisted
        self.find_user = find_user
        self.outcome = Outcome()

    def run(self, command: Command, source: str) -> None:
        if command.name in _SUBSTITUTIONS or command.name in _IGNORED:
            applied = True
        else:
            handler = getattr(self, f"_run_{command.name}")
            applied = handler(command.argument)
        if applied:
            self.outcome.applied += 1
        else:
            self.outcome.failed += 1
        self.issue.quick_actions_run.append(
            {
                "command": command.name,
                "argument": command.argument,
                "applied": applied,
                "source": source,
            }
        )

    def _say(self, message: str) -> bool:
        self.outcome.messages.append(message)
        return True

    def _cannot(self, name: str) -> bool:
        self.outcome.messages.append(f"Could not apply {name} command.")
        return False

    def _set_labels(self, labels: list[str]) -> None:
        self.issue.data["labels"] = labels
        self.issue.touch()

    def _run_close(self, argument: str) -> bool:
        if not self.persisted or self.issue.data["state"] != "opened":
            return self._cannot("close")
        data = self.issue.data
        data["state"] = "closed"
        data["closed_at"] = now_iso()
        data["closed_by"] = dict(BOT_USER)
        self.issue.touch()
        self.outcome.changes["state_event"] = "close"
        return self._say("Closed this issue.")

    def _run_reopen(self, argument: str) -> bool:
        if not self.persisted or self.issue.data["state"] != "closed":
            return self._cannot("reopen")
        data = self.issue.data
        data["state"] = "opened"
        data["closed_at"] = None
        data["closed_by"] = None
        self.issue.touch()
        self.outcome.changes["state_event"] = "reopen"
        return self._say("Reopened this issue.")

    def _run_title(self, argument: str) -> bool:
        if not self.persisted or not argument:
            return self._cannot("title")
        self.issue.data["title"] = argument
        self.issue.touch()
        self.outcome.changes["title"] = argument
        return self._say(f'Changed the title to "{argument}".')

    def _run_label(self, argument: str) -> bool:
        labels = _find_labels(self.project, argument)
        if not labels:
            return self._cannot("label")
        names = [label["name"] for label in labels]
        merged = merge_labels(self.issue.labels, names, exclusive_scopes=self.premium)
        self._set_labels(merged)
        added = self.outcome.changes.setdefault("add_label_ids", [])
        added.extend(label["id"] for label in labels if label["id"] not in added)
        references = " ".join(label_reference(name) for name in names)
        return self._say(f"Added {references} {_pluralize('label', len(names))}.")

    def _run_unlabel(self, argument: str) -> bool:
        if not self.persisted or not self.issue.labels:
            return self._cannot("unlabel")
        if not argument:
            self._set_labels([])
            self.outcome.changes["label_ids"] = []
            return self._say("Removed all labels.")
        labels = _find_labels(self.project, argument)
        if not labels:
            return self._cannot("unlabel")
        names = [label["name"] for label in labels]
        kept = merge_labels(self.issue.labels, [], names, exclusive_scopes=False)
        self._set_labels(kept)
        removed = self.outcome.changes.setdefault("remove_label_ids", [])
        removed.extend(label["id"] for label in labels if label["id"] not in removed)
        references = " ".join(label_reference(name) for name in names)
        return self._say(f"Removed {references} {_pluralize('label', len(names))}.")

    def _run_relabel(self, argument: str) -> bool:
        labels = _find_labels(self.project, argument)
        if not self.persisted or not self.issue.labels or not labels:
            return self._cannot("relabel")
        names = [label["name"] for label in labels]
        self._set_labels(merge_labels([], names, exclusive_scopes=self.premium))
        self.outcome.changes["label_ids"] = [label["id"] for label in labels]
        references = " ".join(label_reference(name) for name in names)
        return self._say(
            f"Replaced all labels with {references} {_pluralize('label', len(names))}."
        )

    def _run_confidential(self, argument: str) -> bool:
        if self.issue.data["confidential"]:
            return self._cannot("confidential")
        self.issue.data["confidential"] = True
        self.issue.touch()
        self.outcome.changes["confidential"] = True
        return self._say("Made this issue confidential.")

    def _run_assign(self, argument: str) -> bool:
        # GitLab skips a username that belongs to no user.
        found = [self.find_user(name) for name in _USERNAME.findall(argument)]
        users = [dict(user) for user in found if user is not None]
        if not users:
            return self._cannot("assign")
        if not self.premium:
            # GitLab Free allows one assignee per issue.
            users = users[:1]
            assignees = users
        else:
            assignees = list(self.issue.data["assignees"])
            for user in users:
                if all(known["id"] != user["id"] for known in assignees):
                    assignees.append(user)
        self.issue.data["assignees"] = assignees
        self.issue.data["assignee"] = assignees[0]
        self.issue.touch()
        self.outcome.changes["assignee_ids"] = [user["id"] for user in assignees]
        names = " ".join(f"@{user['username']}" for user in users)
        return self._say(f"Assigned {names}.")

    def _run_unassign(self, argument: str) -> bool:
        current = self.issue.data["assignees"]
        if not self.persisted or not current:
            return self._cannot("unassign")
        usernames = _USERNAME.findall(argument)
        if usernames:
            kept = [user for user in current if user["username"] not in usernames]
        else:
            kept = []
        removed = [user["username"] for user in current if user not in kept]
        self.issue.data["assignees"] = kept
        self.issue.data["assignee"] = kept[0] if kept else None
        self.issue.touch()
        self.outcome.changes["assignee_ids"] = [user["id"] for user in kept]
        return self._say(
            f"Removed {_pluralize('assignee', len(removed))} "
            + " ".join(f"@{name}" for name in removed)
            + "."
        )

    def _run_severity(self, argument: str) -> bool:
        if self.issue.data["issue_type"] != "incident":
            return self._cannot("severity")
        requested = argument.lower()
        for severity, spellings in _SEVERITIES.items():
            if requested in spellings:
                self.issue.data["severity"] = severity
                self.issue.touch()
                self.outcome.changes["severity"] = severity.lower()
                return self._say(f"Severity updated to {severity.capitalize()}.")
        self.outcome.messages.append("No severity matches the provided parameter")
        return False


def execute(
    commands: list[Command],
    issue: IssueRecord,
    project: ProjectRecord,
    *,
    premium: bool,
    persisted: bool,
    source: str,
    find_user: UserLookup,
) -> Outcome:
    """Run commands on issue and return what changed.

    persisted is False while the issue is being created: GitLab then skips
    /close, /reopen, /title, /unlabel, /relabel and /unassign, which need an
    existing issue. source ("note" or "description") is recorded with each
    command in issue.quick_actions_run. find_user returns the user with a
    username, or None, for /assign.
    """
    runner = _Runner(
        issue, project, premium=premium, persisted=persisted, find_user=find_user
    )
    for command in commands:
        runner.run(command, source)
    return runner.outcome
