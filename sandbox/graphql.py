"""The sandbox's GraphQL endpoint: a small parser and two root fields.

It parses one operation (query or mutation) with arguments, variables and
nested selections, which is what clients send for single mutations.
Fragments and directives are not supported. The root fields are the
mutations ``timelineEventCreate`` and ``timelineEventDestroy`` and the query
``currentUser``. Errors come back with HTTP 200, as GitLab sends them:
GraphQL errors in ``errors`` at the top level, and a mutation's own errors in
its payload's ``errors`` list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.gitlab_store import (
    BOT_USER,
    PREDEFINED_TIMELINE_TAGS,
    Store,
    now_iso,
)

# GitLab rejects a timeline event note that a user wrote when it is longer
# than this (validation context :user_input in IncidentManagement::TimelineEvent).
TIMELINE_NOTE_MAX = 280

_NOT_FOUND = (
    "The resource that you are attempting to access does not exist or you "
    "don't have permission to perform this action"
)
_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,]+|\#[^\n]*)
    | (?P<block>\"\"\"(?:.|\n)*?\"\"\")
    | (?P<string>"(?:[^"\\\n]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    | (?P<spread>\.\.\.)
    | (?P<punct>[{}()\[\]:$!=@|&])
    """,
    re.VERBOSE,
)


class GraphQLError(Exception):
    """An error reported in the top-level ``errors`` list."""


@dataclass
class Variable:
    name: str


@dataclass
class Field:
    """One field of a selection set, with its arguments resolved."""

    alias: str
    name: str
    arguments: dict[str, Any]
    selections: list[Field] | None


class _Parser:
    def __init__(self, document: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(document):
            match = _TOKEN.match(document, position)
            if match is None:
                raise GraphQLError(
                    f"Parse error on {document[position : position + 10]!r} "
                    f"at offset {position}"
                )
            position = match.end()
            kind = match.lastgroup or ""
            if kind != "skip":
                self.tokens.append((kind, match.group(0)))
        self.index = 0

    def peek(self) -> tuple[str, str]:
        if self.index < len(self.tokens):
            return self.tokens[self.index]
        return ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end" or (value is not None and token[1] != value):
            expected = f"{value!r}" if value else "more input"
            raise GraphQLError(f"Parse error: expected {expected}, found {token[1]!r}")
        self.index += 1
        return token

    def operation(self) -> tuple[str, list[Field]]:
        """Parse the first operation; return its type and root fields."""
        kind = "query"
        if self.peek()[1] in ("query", "mutation", "subscription"):
            kind = self.take()[1]
            if self.peek()[0] == "name":
                self.take()
            if self.peek()[1] == "(":
                self._skip_balanced("(", ")")
        if self.peek()[1] == "@":
            raise GraphQLError("Directives are not supported by the sandbox")
        return kind, self.selection_set()

    def _skip_balanced(self, opening: str, closing: str) -> None:
        depth = 0
        while True:
            token = self.take()[1]
            if token == opening:
                depth += 1
            elif token == closing:
                depth -= 1
                if depth == 0:
                    return

    def selection_set(self) -> list[Field]:
        self.take("{")
        fields: list[Field] = []
        while self.peek()[1] != "}":
            if self.peek()[0] == "spread":
                raise GraphQLError("Fragments are not supported by the sandbox")
            name = self.take()[1]
            alias = name
            if self.peek()[1] == ":":
                self.take(":")
                name = self.take()[1]
            arguments: dict[str, Any] = {}
            if self.peek()[1] == "(":
                self.take("(")
                while self.peek()[1] != ")":
                    key = self.take()[1]
                    self.take(":")
                    arguments[key] = self.value()
                self.take(")")
            selections = self.selection_set() if self.peek()[1] == "{" else None
            fields.append(Field(alias, name, arguments, selections))
        self.take("}")
        return fields

    def value(self) -> Any:
        kind, text = self.take()
        if text == "$":
            return Variable(self.take()[1])
        if kind == "string":
            return _unescape(text[1:-1])
        if kind == "block":
            return text[3:-3].strip("\n")
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if text == "[":
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            fields = {}
            while self.peek()[1] != "}":
                key = self.take()[1]
                self.take(":")
                fields[key] = self.value()
            self.take("}")
            return fields
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)
        raise GraphQLError(f"Parse error on {text!r}")


def _unescape(text: str) -> str:
    escapes = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n"}
    escapes.update({"r": "\r", "t": "\t"})

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u"):
            return chr(int(code[1:], 16))
        return escapes.get(code, code)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", replace, text)


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    """Replace Variable placeholders with the request's variables."""
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [_substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, variables) for key, item in value.items()}
    return value


def _select(value: Any, selections: list[Field] | None, type_name: str) -> Any:
    """Keep only the selected fields of a result, as GraphQL does."""
    if selections is None or value is None:
        return value
    if isinstance(value, list):
        return [_select(item, selections, type_name) for item in value]
    result = {}
    for field in selections:
        if field.name == "__typename":
            result[field.alias] = type_name
            continue
        if field.name not in value:
            raise GraphQLError(
                f"Field '{field.name}' doesn't exist on type '{type_name}'"
            )
        child = value[field.name]
        child_type = child.get("__typename", "") if isinstance(child, dict) else ""
        result[field.alias] = _select(child, field.selections, child_type)
    return result


def _parse_time(value: Any) -> str:
    """Return an ISO 8601 time as GitLab stores it (UTC, Z suffix)."""
    if not isinstance(value, str):
        raise GraphQLError(f"{value!r} is not a valid ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"{value!r} is not a valid ISO 8601 time") from None
    if parsed.tzinfo is None:
        # GitLab parses a time without an offset in its own zone, UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timeline_event_create(arguments: dict[str, Any], store: Store) -> dict[str, Any]:
    data = arguments.get("input")
    if not isinstance(data, dict):
        raise GraphQLError(
            "Field 'timelineEventCreate' is missing required arguments: input"
        )
    for name, kind in (("incidentId", "IssueID!"), ("note", "String!")):
        if data.get(name) is None:
            raise GraphQLError(
                f"Argument '{name}' on InputObject 'TimelineEventCreateInput' "
                f"is required. Expected type {kind}"
            )
    if data.get("occurredAt") is None:
        raise GraphQLError(
            "Argument 'occurredAt' on InputObject 'TimelineEventCreateInput' "
            "is required. Expected type Time!"
        )
    incident_id = str(data["incidentId"])
    match = re.fullmatch(r"gid://gitlab/Issue/(\d+)", incident_id)
    if match is None:
        raise GraphQLError(f'"{incident_id}" does not represent an instance of Issue')
    occurred_at = _parse_time(data["occurredAt"])
    issue = store.issue_by_global_id(int(match.group(1)))
    if issue is None:
        raise GraphQLError(_NOT_FOUND)

    def rejected(message: str) -> dict[str, Any]:
        return {"timelineEvent": None, "errors": [message], "clientMutationId": None}

    if issue.data["issue_type"] != "incident":
        return rejected(
            "You have insufficient permissions to manage timeline events for "
            "this incident"
        )
    tag_names = [str(name) for name in data.get("timelineEventTagNames") or []]
    known = {tag.lower(): tag for tag in PREDEFINED_TIMELINE_TAGS}
    unknown = [name.lower() for name in tag_names if name.lower() not in known]
    if unknown:
        listed = ", ".join(f'"{name}"' for name in unknown)
        return rejected(f"Following tags don't exist: [{listed}]")
    note = str(data["note"])
    if not note.strip():
        return rejected("Note can't be blank")
    if len(note) > TIMELINE_NOTE_MAX:
        return rejected(f"Note is too long (maximum is {TIMELINE_NOTE_MAX} characters)")
    stamp = now_iso()
    event = {
        "id": f"gid://gitlab/IncidentManagement::TimelineEvent/{store.new_event_id()}",
        "note": note,
        "noteHtml": f"<p>{note}</p>",
        "action": "comment",
        "editable": True,
        "occurredAt": occurred_at,
        "createdAt": stamp,
        "updatedAt": stamp,
        "tags": [known[name.lower()] for name in tag_names],
    }
    # NOTE: GitLab also adds a system note ("added an incident timeline
    # event"); the sandbox does not, so notes hold only what clients posted.
    issue.timeline_events.append(event)
    issue.touch()
    return {
        "timelineEvent": _timeline_event_type(event),
        "errors": [],
        "clientMutationId": None,
    }


def _timeline_event_destroy(arguments: dict[str, Any], store: Store) -> dict[str, Any]:
    data = arguments.get("input")
    if not isinstance(data, dict) or data.get("id") is None:
        raise GraphQLError(
            "Argument 'id' on InputObject 'TimelineEventDestroyInput' is required. "
            "Expected type IncidentManagementTimelineEventID!"
        )
    event_id = str(data["id"])
    for issue in store.all_issues():
        for event in issue.timeline_events:
            if event["id"] == event_id:
                issue.timeline_events.remove(event)
                issue.touch()
                return {
                    "timelineEvent": _timeline_event_type(event),
                    "errors": [],
                    "clientMutationId": None,
                }
    raise GraphQLError(_NOT_FOUND)


def _timeline_event_type(event: dict[str, Any]) -> dict[str, Any]:
    """Return a stored event shaped as GitLab's TimelineEventType."""
    shaped = {key: value for key, value in event.items() if key != "tags"}
    shaped["__typename"] = "TimelineEventType"
    shaped["timelineEventTags"] = {
        "__typename": "TimelineEventTagTypeConnection",
        "nodes": [
            {"__typename": "TimelineEventTagType", "name": name}
            for name in event["tags"]
        ],
    }
    return shaped


def _current_user(arguments: dict[str, Any], store: Store) -> dict[str, Any]:
    return {
        "__typename": "CurrentUser",
        "id": f"gid://gitlab/User/{BOT_USER['id']}",
        "username": BOT_USER["username"],
        "name": BOT_USER["name"],
    }


_Resolver = Callable[[dict[str, Any], Store], dict[str, Any]]
_ROOT_FIELDS: dict[str, dict[str, tuple[_Resolver, str]]] = {
    "mutation": {
        "timelineEventCreate": (_timeline_event_create, "TimelineEventCreatePayload"),
        "timelineEventDestroy": (
            _timeline_event_destroy,
            "TimelineEventDestroyPayload",
        ),
    },
    "query": {"currentUser": (_current_user, "CurrentUser")},
}


def execute(payload: Any, store: Store) -> dict[str, Any]:
    """Run one GraphQL request body and return the response body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return {"errors": [{"message": "No query string was present"}]}
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        return {"errors": [{"message": "Variables must be a JSON object"}]}
    try:
        kind, fields = _Parser(payload["query"]).operation()
    except GraphQLError as error:
        return {"errors": [{"message": str(error)}]}

    roots = _ROOT_FIELDS.get(kind, {})
    type_name = kind.capitalize()
    for field in fields:
        if field.name != "__typename" and field.name not in roots:
            message = f"Field '{field.name}' doesn't exist on type '{type_name}'"
            return {"errors": [{"message": message}]}

    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for field in fields:
        if field.name == "__typename":
            data[field.alias] = type_name
            continue
        resolver, result_type = roots[field.name]
        arguments = _substitute(field.arguments, variables)
        # NOTE: selections are checked after the resolver ran, so a mutation
        # that selects a misspelt field takes effect and still reports an
        # error. GitLab validates the whole document first.
        try:
            result = resolver(arguments, store)
            data[field.alias] = _select(result, field.selections, result_type)
        except GraphQLError as error:
            data[field.alias] = None
            errors.append({"message": str(error), "path": [field.alias]})

    response: dict[str, Any] = {"data": data}
    if errors:
        response["errors"] = errors
    return response
