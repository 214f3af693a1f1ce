"""A local emulator of the GitLab REST API v4 and one GraphQL mutation.

It covers what the incident bot uses (projects, labels, issues, notes,
incident timeline events) and copies GitLab where a difference would hide a
bug: URL-encoded project paths, error bodies and codes, quick actions in
notes and descriptions, @mentions, scoped labels on Free and Premium, and
pagination headers. Tests can make the next requests fail or stall.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import threading
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlencode

from sandbox import graphql, issue_links, issue_move, web
from sandbox.faults import Fault, Faults
from sandbox.gitlab_errors import ApiError
from sandbox.gitlab_errors import bad_request as _bad_request
from sandbox.gitlab_errors import not_found as _not_found
from sandbox.gitlab_store import (
    BOT_USER,
    DEFAULT_LABEL_COLOR,
    ISSUE_TYPES,
    IssueRecord,
    ProjectRecord,
    Store,
    merge_labels,
    now_iso,
)
from sandbox.markdown import find_mentions
from sandbox.quick_actions import Command, Outcome, execute, extract
from sandbox.server import LocalServer, Request, Response

log = logging.getLogger("sandbox.gitlab")

DEFAULT_PROJECTS = (
    "infra/production",
    "infra/incident-follow-ups",
    "infra/incident-reviews",
    "product/backend",
    "sre/incidents",
    "sre/follow-ups",
)
GITLAB_VERSION = "17.11.0-ee"

# Limits GitLab enforces (Note, Issue and Label validations).
NOTE_MAX = 1_000_000
DESCRIPTION_MAX = 1_048_576
TITLE_MAX = 255

_UPDATE_PARAMETERS = (
    "title",
    "description",
    "labels",
    "add_labels",
    "remove_labels",
    "state_event",
    "confidential",
    "issue_type",
    "assignee_ids",
    "assignee_id",
    "due_date",
    "discussion_locked",
    "milestone_id",
)
# /projects/:id, its labels and issues, and an issue's notes, links and move.
# Groups: project, collection, issue iid, "notes", "links" or "move", and the
# note or link id.
_PROJECT_ROUTE = re.compile(
    r"/api/v4/projects/([^/]+)"
    r"(?:/(labels|issues)(?:/([^/]+)(?:/(notes|links|move)(?:/([^/]+))?)?)?)?"
)
_ALLOWED_METHODS = {
    "project": ("GET",),
    "labels": ("GET", "POST"),
    "issues": ("GET", "POST"),
    "issue": ("GET", "PUT"),
    "notes": ("GET", "POST"),
    "note": ("GET", "PUT", "DELETE"),
    "links": ("GET", "POST"),
    "link": ("GET", "DELETE"),
    "move": ("POST",),
}
# The _ALLOWED_METHODS key of one item of an issue's sub-collection.
_ITEM_KIND = {"notes": "note", "links": "link"}
_USER_ROUTE = re.compile(r"/api/v4/users(?:/([^/]+))?")
_EPIC_ROUTE = re.compile(r"/api/v4/groups/([^/]+)/epics/([^/]+)")
_COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})|[A-Za-z]+")


def _fault_response(fault: Fault) -> Response:
    """Return the response of an injected failure, with GitLab's error body."""
    body = fault.body
    if body is None and fault.status == 429:
        # GitLab's rate limiter responds in plain text.
        body = "Retry later\n"
    elif body is None:
        body = {"message": f"{fault.status} {HTTPStatus(fault.status).phrase}"}
    return Response(fault.status, body, fault.response_headers())


def _parse_bool(params: dict[str, Any], name: str) -> bool | None:
    """Return a boolean parameter, accepting JSON booleans and form strings."""
    if name not in params or params[name] is None:
        return None
    value = params[name]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise _bad_request({"error": f"{name} is invalid"})


def _parse_labels(value: Any) -> list[str]:
    """Return label names from a comma-separated string or a list."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    names: list[str] = []
    for item in items:
        for name in str(item).split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    for name in names:
        if len(name) > TITLE_MAX:
            raise _bad_request(
                {"message": {"title": ["is too long (maximum is 255 characters)"]}}
            )
    return names


def _check_title(title: str) -> None:
    if not title.strip():
        raise _bad_request({"message": {"title": ["can't be blank"]}})
    if len(title) > TITLE_MAX:
        raise _bad_request(
            {"message": {"title": [f"is too long (maximum is {TITLE_MAX} characters)"]}}
        )


def _check_description(description: str) -> None:
    if len(description) > DESCRIPTION_MAX:
        message = f"is too long (maximum is {DESCRIPTION_MAX} characters)"
        raise _bad_request({"message": {"description": [message]}})


def _integer(segment: str, name: str) -> int:
    if not segment.isdigit():
        raise _bad_request({"error": f"{name} is invalid"})
    return int(segment)


class GitLabSandbox:
    """GitLab API emulator served on 127.0.0.1 in a background thread.

    tier is "free" or "premium" and may change while the sandbox runs: it
    decides whether scoped labels replace each other, how many assignees an
    issue may have, and whether blocking links and epics are available.
    move_closed_issues, also changeable at any time, decides whether a closed
    issue can be moved (current GitLab) or is refused with the 400 that some
    older versions returned.
    """

    def __init__(
        self,
        *,
        tier: str = "free",
        token: str = "sandbox-token",
        projects: Iterable[str] = DEFAULT_PROJECTS,
        host: str = "127.0.0.1",
        port: int = 0,
        move_closed_issues: bool = True,
    ) -> None:
        if tier not in ("free", "premium"):
            raise ValueError(f"tier must be 'free' or 'premium', not {tier!r}")
        self.tier = tier
        self.move_closed_issues = move_closed_issues
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self.notifications: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._store = Store()
        self._faults = Faults(self._lock)
        self._server = LocalServer(self._handle, host=host, port=port, name="gitlab")
        for path in projects:
            self._store.add_project(path)

    # Python interface

    @property
    def url(self) -> str:
        """Base URL of the sandbox, without /api/v4."""
        return self._server.url

    def start(self) -> None:
        self._stopped.clear()
        self._server.start()

    def stop(self) -> None:
        # Wake requests sleeping in delay_next so that they finish.
        self._stopped.set()
        self._server.stop()

    def __enter__(self) -> GitLabSandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_project(self, path: str) -> int:
        """Create a project (or find an existing one) and return its id."""
        with self._lock:
            return self._store.add_project(path).id

    def add_user(self, username: str, name: str, *, state: str = "active") -> int:
        """Create a user (or find one with this username) and return its id.

        state "blocked" makes a user that GET /users still lists, as GitLab
        does.
        """
        with self._lock:
            return int(self._store.add_user(username, name, state)["id"])

    def add_label(
        self,
        project: str | int,
        name: str,
        *,
        color: str = DEFAULT_LABEL_COLOR,
        description: str = "",
    ) -> None:
        """Create a project label, keeping a label that exists already as it is."""
        with self._lock:
            self._store.ensure_label(
                self._require_project(project), name, color, description
            )

    def issue(self, project: str | int, iid: int) -> dict[str, Any]:
        """Return a copy of a stored issue with its notes and timeline events.

        Raises KeyError when the project or issue does not exist.
        """
        with self._lock:
            record = self._require_project(project).issues.get(iid)
            if record is None:
                raise KeyError(f"no issue {project}#{iid} in the sandbox")
            return record.snapshot()

    def issues(self, project: str | int) -> list[dict[str, Any]]:
        """Return copies of all issues of a project, lowest iid first."""
        with self._lock:
            records = self._require_project(project).issues
            return [records[iid].snapshot() for iid in sorted(records)]

    def labels(self, project: str | int) -> list[str]:
        """Return the names of a project's labels, sorted."""
        with self._lock:
            return sorted(self._require_project(project).labels)

    def create_issue_directly(
        self,
        project: str | int,
        *,
        title: str,
        description: str | None = None,
        labels: Iterable[str] = (),
        issue_type: str = "issue",
        confidential: bool = False,
        assignee_ids: Iterable[int] = (),
        iid: int | None = None,
    ) -> dict[str, Any]:
        """Create an issue as a person on GitLab would, without an HTTP request.

        issue_type is "issue", "incident", "test_case" or "task". Quick
        actions in the description run and mentions notify, as in GitLab's
        web editor. iid gives the issue a chosen number, as an import does,
        and later issues get higher ones. Returns the stored issue; raises
        ValueError on an iid below 1 or taken in the project, and on a value
        that the API would reject with 400.
        """
        params: dict[str, Any] = {
            "title": title,
            "description": description,
            "labels": list(labels),
            "issue_type": issue_type,
            "confidential": confidential,
            "assignee_ids": list(assignee_ids),
        }
        with self._lock:
            target = self._require_project(project)
            previous = target.next_iid
            if iid is not None:
                if iid < 1 or iid in target.issues:
                    raise ValueError(
                        f"iid {iid} is invalid or taken in {target.path}: give a "
                        "positive iid that no issue of the project has, or none"
                    )
                target.next_iid = iid
            try:
                record = self._direct(lambda: self._create_issue_record(target, params))
            finally:
                if iid is not None:
                    # GitLab never hands out an iid twice, so the next issue
                    # gets a number above both this one and those before it.
                    created = iid in target.issues
                    target.next_iid = max(previous, iid + 1) if created else previous
            return record.snapshot()

    def edit_issue_directly(
        self, project: str | int, iid: int, **changes: Any
    ) -> dict[str, Any]:
        """Change an issue as a person on GitLab would, without an HTTP request.

        changes are the parameters of PUT /projects/:id/issues/:iid, for
        example description="..." or add_labels="a,b". Returns the stored
        issue; raises KeyError for an unknown issue and ValueError on a value
        that the API would reject with 400.
        """
        with self._lock:
            target = self._require_project(project)
            record = target.issues.get(iid)
            if record is None:
                raise KeyError(f"no issue {project}#{iid} in the sandbox")
            self._direct(lambda: self._update_issue_record(target, record, changes))
            return record.snapshot()

    @staticmethod
    def _direct(change: Any) -> Any:
        try:
            return change()
        except ApiError as error:
            response = error.response
            raise ValueError(
                f"GitLab would reject this with {response.status}: {response.body}"
            ) from None

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Respond to the next `times` matching requests with `status`.

        method "*" matches any method. path_pattern is a regular expression
        searched in the percent-encoded request path without the query. A
        429 body defaults to GitLab's plain "Retry later", other statuses to
        {"message": "<status> <reason>"}. retry_after adds a Retry-After
        header, and headers adds any others.
        times=0 cancels what is left of earlier failures with the same method
        and pattern.
        """
        self._faults.fail(
            method,
            path_pattern,
            status,
            times=times,
            retry_after=retry_after,
            body=body,
            headers=headers,
        )

    def delay_next(
        self, method: str, path_pattern: str, seconds: float, *, times: int = 1
    ) -> None:
        """Stall the next `times` matching requests before handling them.

        A stalled request is still carried out after the delay, as on a slow
        GitLab, even when the client has given up waiting. times=0 cancels
        what is left of earlier delays with the same method and pattern.
        """
        self._faults.delay(method, path_pattern, seconds, times=times)

    def reset_log(self) -> None:
        """Clear the request log and the recorded notifications."""
        with self._lock:
            self.requests.clear()
            self.notifications.clear()

    # Request handling

    def _require_project(self, key: str | int) -> ProjectRecord:
        record = self._store.find_project(key)
        if record is None:
            raise KeyError(f"no project {key!r} in the sandbox")
        return record

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append((request.method, request.path))
            delay, failure = self._faults.take(request)
        if delay is not None:
            self._stopped.wait(delay.seconds)
        if failure is not None:
            return _fault_response(failure)
        page = web.ISSUE_PAGE.fullmatch(request.path)
        if request.method.upper() == "GET" and page is not None:
            return self._issue_page(page["project"], int(page["iid"]))
        if not self._authorized(request):
            if request.path == "/api/graphql":
                return Response(401, {"errors": [{"message": "Invalid token"}]})
            return Response(401, {"message": "401 Unauthorized"})
        try:
            with self._lock:
                return self._route(request)
        except ApiError as error:
            return error.response
        except Exception:
            # A sandbox bug: respond as GitLab would and log the traceback.
            log.exception("sandbox failed on %s %s", request.method, request.path)
            return Response(500, {"message": "500 Internal Server Error"})

    def _issue_page(self, project: str, iid: int) -> Response:
        """Return the issue's page, which the sandbox shows without a token."""
        with self._lock:
            record = self._store.project_by_path(project)
            issue = record.issues.get(iid) if record is not None else None
            if issue is None:
                return Response(404, "404 Not Found")
            snapshot = issue.snapshot()
        body = web.issue_page(snapshot)
        return Response(200, body, content_type="text/html; charset=utf-8")

    def _authorized(self, request: Request) -> bool:
        token = request.headers.get("PRIVATE-TOKEN")
        authorization = request.headers.get("Authorization", "")
        if token is None and authorization.startswith("Bearer "):
            token = authorization[len("Bearer ") :]
        if token is None and "private_token" in request.query:
            token = request.query["private_token"][-1]
        return token is not None and hmac.compare_digest(token, self.token)

    def _route(self, request: Request) -> Response:
        path = request.path
        method = request.method.upper()
        if path == "/api/graphql":
            if method != "POST":
                return Response(405, {"error": "405 Not Allowed"})
            return Response(200, graphql.execute(self._json(request), self._store))

        match = _PROJECT_ROUTE.fullmatch(path)
        if match is not None:
            return self._route_project(request, method, match)

        if method == "GET" and path == "/api/v4/version":
            return self._get_version()
        if method == "GET" and path == "/api/v4/user":
            return self._get_user()
        users = _USER_ROUTE.fullmatch(path)
        if method == "GET" and users is not None:
            return self._get_users(request, users[1])
        epic = _EPIC_ROUTE.fullmatch(path)
        if method == "GET" and epic is not None:
            return self._get_epic(unquote(epic[1]))
        return Response(404, {"error": "404 Not Found"})

    def _route_project(
        self, request: Request, method: str, match: re.Match[str]
    ) -> Response:
        """Dispatch a request under /api/v4/projects/:id."""
        project_key, collection, item, sub, sub_id = match.groups()
        if collection == "labels" and item is not None:
            return Response(404, {"error": "404 Not Found"})
        if sub_id is not None:
            kind = _ITEM_KIND.get(sub, "")
        elif sub is not None:
            kind = sub
        elif item is not None:
            kind = "issue"
        else:
            kind = collection or "project"
        if kind not in _ALLOWED_METHODS:
            return Response(404, {"error": "404 Not Found"})
        if method not in _ALLOWED_METHODS[kind]:
            return Response(405, {"error": "405 Not Allowed"})

        project = self._store.find_project(unquote(project_key))
        if project is None:
            raise _not_found("Project")
        if kind == "project":
            return Response(200, project.as_json(self.url))
        if kind == "labels" and method == "GET":
            return self._list_labels(request, project)
        if kind == "labels":
            return self._create_label(request, project)
        if kind == "issues" and method == "GET":
            return self._list_issues(request, project)
        if kind == "issues":
            return self._create_issue(request, project)

        issue = project.issues.get(_integer(item, "issue_iid"))
        if issue is None:
            raise _not_found("Issue")
        if kind in ("links", "link", "move"):
            return self._route_issue_relations(
                request, method, kind, project, issue, sub_id
            )
        if kind == "issue" and method == "GET":
            return Response(200, issue.as_json())
        if kind == "issue":
            return self._update_issue(request, project, issue)
        if kind == "notes" and method == "GET":
            return self._list_notes(request, issue)
        if kind == "notes":
            return self._create_note(request, project, issue)

        note = issue.find_note(_integer(sub_id, "note_id"))
        if note is None:
            raise _not_found("Note")
        if method == "GET":
            return Response(200, dict(note))
        if method == "PUT":
            return self._update_note(request, project, issue, note)
        issue.notes.remove(note)
        return Response(204)

    @staticmethod
    def _json(request: Request) -> Any:
        try:
            return request.json_body()
        except ValueError:
            raise _bad_request(
                {"error": "The request body is not valid JSON"}
            ) from None

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        try:
            return request.params()
        except ValueError:
            raise _bad_request(
                {"error": "The request body is not valid JSON"}
            ) from None

    def _route_issue_relations(
        self,
        request: Request,
        method: str,
        kind: str,
        project: ProjectRecord,
        issue: IssueRecord,
        link_id: str | None,
    ) -> Response:
        """Dispatch an issue's links and its move."""
        if kind == "move":
            target = issue_move.find_target_project(self._store, self._params(request))
            moved = issue_move.move_issue(
                self._store,
                project,
                issue,
                target,
                base_url=self.url,
                move_closed=self.move_closed_issues,
            )
            return Response(201, moved.as_json())
        if kind == "links" and method == "GET":
            return Response(200, issue_links.list_links(self._store, issue))
        if kind == "links":
            created = issue_links.create_link(
                self._store,
                project,
                issue,
                self._params(request),
                premium=self.tier == "premium",
            )
            return Response(201, created)
        link = issue_links.find_link(self._store, issue, link_id or "")
        if method == "GET":
            return Response(200, issue_links.link_json(self._store, link))
        return Response(200, issue_links.delete_link(self._store, link))

    def _get_users(self, request: Request, user_key: str | None) -> Response:
        """GET /users (filtered by username or search) and GET /users/:id."""
        if user_key is not None:
            user = None
            if user_key.isdigit():
                user = self._store.users.get(int(user_key))
            if user is None:
                raise _not_found("User")
            return Response(200, self._user_json(user))
        params = self._params(request)
        username = params.get("username")
        search = str(params.get("search") or "").lower()
        users = sorted(self._store.users.values(), key=lambda user: user["id"])
        if username is not None:
            found = self._store.user_by_username(str(username))
            users = [found] if found is not None else []
        elif search:
            users = [
                user
                for user in users
                if search in str(user["username"]).lower()
                or search in str(user["name"]).lower()
            ]
        return self._paginate(request, [self._user_json(user) for user in users])

    def _user_json(self, user: dict[str, Any]) -> dict[str, Any]:
        return {**user, "web_url": f"{self.url}/{user['username']}"}

    def _get_epic(self, group: str) -> Response:
        """GET /groups/:id/epics/:iid: the sandbox has groups but no epics.

        Epics are a Premium feature, so Free returns 403 for an existing
        group, as GitLab does without the license.
        """
        if not self._store.group_exists(group):
            raise _not_found("Group")
        if self.tier != "premium":
            return Response(403, {"message": "403 Forbidden"})
        return Response(404, {"message": "404 Not found"})

    def _get_version(self) -> Response:
        return Response(200, {"version": GITLAB_VERSION, "revision": "sandbox"})

    def _get_user(self) -> Response:
        user = dict(BOT_USER)
        user.update({"web_url": f"{self.url}/{BOT_USER['username']}", "bot": False})
        return Response(200, user)

    def _paginate(self, request: Request, items: list[Any]) -> Response:
        """Return one page of items with GitLab's pagination headers."""

        def number(name: str, default: int) -> int:
            values = request.query.get(name)
            if not values or values[-1] == "":
                return default
            if not values[-1].isdigit():
                raise _bad_request({"error": f"{name} is invalid"})
            return int(values[-1])

        page = max(number("page", 1), 1)
        # GitLab caps per_page at 100 instead of rejecting larger values.
        per_page = min(max(number("per_page", 20), 1), 100)
        total_pages = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        host = request.headers.get("Host") or self.url.removeprefix("http://")

        def link(to_page: int) -> str:
            query = {key: values[-1] for key, values in request.query.items()}
            query.update({"page": str(to_page), "per_page": str(per_page)})
            return f"http://{host}{request.path}?{urlencode(query)}"

        links = []
        if page < total_pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        links.append(f'<{link(1)}>; rel="first"')
        links.append(f'<{link(total_pages)}>; rel="last"')
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return Response(200, chunk, headers)

    # Labels

    def _list_labels(self, request: Request, project: ProjectRecord) -> Response:
        search = (request.query.get("search") or [""])[-1].lower()
        labels = [
            dict(project.labels[name])
            for name in sorted(project.labels, key=lambda name: (name.lower(), name))
            if search in name.lower()
        ]
        return self._paginate(request, labels)

    def _create_label(self, request: Request, project: ProjectRecord) -> Response:
        params = self._params(request)
        name = params.get("name")
        if name is None:
            raise _bad_request({"error": "name is missing"})
        name = str(name).strip()
        if not name:
            raise _bad_request({"message": {"title": ["can't be blank"]}})
        if "," in name or len(name) > TITLE_MAX:
            raise _bad_request({"message": {"title": ["is invalid"]}})
        color = str(params.get("color") or DEFAULT_LABEL_COLOR).strip()
        if not _COLOR.fullmatch(color):
            raise _bad_request({"message": {"color": ["must be a valid color code"]}})
        if name in project.labels:
            raise ApiError(409, {"message": "Label already exists"})
        description = str(params.get("description") or "")
        label = self._store.ensure_label(project, name, color, description)
        return Response(201, dict(label))

    # Issues

    def _list_issues(self, request: Request, project: ProjectRecord) -> Response:
        params = self._params(request)
        state = str(params.get("state") or "all")
        if state not in ("opened", "closed", "all"):
            raise _bad_request({"error": "state does not have a valid value"})
        label_filter = _parse_labels(params.get("labels"))
        issue_type = params.get("issue_type")
        search = str(params.get("search") or "").lower()
        iids = params.get("iids")
        iid_filter = None
        if isinstance(iids, list):
            if not all(str(iid).isdigit() for iid in iids):
                raise _bad_request({"error": "iids is invalid"})
            iid_filter = {int(iid) for iid in iids}

        selected = []
        for record in project.issues.values():
            data = record.data
            if state != "all" and data["state"] != state:
                continue
            if issue_type and data["issue_type"] != issue_type:
                continue
            if iid_filter is not None and record.iid not in iid_filter:
                continue
            if not self._labels_match(data["labels"], label_filter):
                continue
            text = f"{data['title']}\n{data['description'] or ''}".lower()
            if search and search not in text:
                continue
            selected.append(record)

        order_by = str(params.get("order_by") or "created_at")
        if order_by not in ("created_at", "updated_at"):
            order_by = "created_at"
        descending = str(params.get("sort") or "desc") != "asc"
        selected.sort(
            key=lambda record: (record.data[order_by], record.data["id"]),
            reverse=descending,
        )
        return self._paginate(request, [record.as_json() for record in selected])

    @staticmethod
    def _labels_match(labels: list[str], label_filter: list[str]) -> bool:
        if label_filter == ["None"]:
            return not labels
        if label_filter == ["Any"]:
            return bool(labels)
        return all(name in labels for name in label_filter)

    def _create_issue(self, request: Request, project: ProjectRecord) -> Response:
        record = self._create_issue_record(project, self._params(request))
        return Response(201, record.as_json())

    def _create_issue_record(
        self, project: ProjectRecord, params: dict[str, Any]
    ) -> IssueRecord:
        if params.get("title") is None:
            raise _bad_request({"error": "title is missing"})
        title = str(params["title"])
        _check_title(title)
        description = params.get("description")
        if description is not None:
            description = str(description)
            _check_description(description)
        issue_type = str(params.get("issue_type") or "issue")
        if issue_type not in ISSUE_TYPES:
            raise _bad_request({"error": "issue_type does not have a valid value"})
        confidential = bool(_parse_bool(params, "confidential"))
        labels = _parse_labels(params.get("labels"))
        assignees = self._parse_assignees(params)

        commands: list[Command] = []
        if description is not None:
            description, commands = extract(description)
        iid = project.next_iid
        project.next_iid += 1
        stamp = now_iso()
        record = IssueRecord(
            data={
                "id": self._store.new_issue_id(),
                "iid": iid,
                "project_id": project.id,
                "title": title,
                "description": description,
                "state": "opened",
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": None,
                "closed_by": None,
                "labels": [],
                "milestone": None,
                "assignees": [],
                "assignee": None,
                "author": dict(BOT_USER),
                "type": issue_type.upper(),
                "issue_type": issue_type,
                "severity": "UNKNOWN",
                "confidential": confidential,
                "discussion_locked": None,
                "due_date": None,
                "upvotes": 0,
                "downvotes": 0,
                "merge_requests_count": 0,
                "user_notes_count": 0,
                "moved_to_id": None,
                "service_desk_reply_to": None,
                "web_url": f"{self.url}/{project.path}/-/issues/{iid}",
                "references": {
                    "short": f"#{iid}",
                    "relative": f"#{iid}",
                    "full": f"{project.path}#{iid}",
                },
                "_links": {
                    "self": f"{self.url}/api/v4/projects/{project.id}/issues/{iid}",
                    "notes": (
                        f"{self.url}/api/v4/projects/{project.id}/issues/{iid}/notes"
                    ),
                    "project": f"{self.url}/api/v4/projects/{project.id}",
                },
            }
        )
        project.issues[iid] = record
        self._apply_labels(project, record, [], labels, [])
        if assignees is not None:
            self._set_assignees(record, assignees)
        self._run_commands(
            commands, project, record, persisted=False, source="description"
        )
        self._notify(record, project, f"{title}\n{description or ''}", old_text="")
        return record

    def _apply_labels(
        self,
        project: ProjectRecord,
        record: IssueRecord,
        base: list[str],
        added: list[str],
        removed: list[str],
    ) -> None:
        # GitLab creates a project label for any unknown name given to an
        # issue through the API (quick actions only use existing labels).
        for name in added:
            self._store.ensure_label(project, name)
        record.data["labels"] = merge_labels(
            base, added, removed, exclusive_scopes=self.tier == "premium"
        )

    def _parse_assignees(self, params: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Return the users that assignee_ids (or assignee_id) name, or None.

        As in GitLab, Free keeps only the first id, an unknown id is dropped
        without an error, and [] or [0] removes every assignee.
        """
        if "assignee_ids" in params:
            raw = params["assignee_ids"]
        elif "assignee_id" in params:
            raw = params["assignee_id"]
        else:
            return None
        if raw is None or raw == "":
            items: list[Any] = []
        elif isinstance(raw, list):
            items = raw
        else:
            items = str(raw).split(",")
        ids: list[int] = []
        for item in items:
            text = str(item).strip()
            if isinstance(item, bool) or not text.isdigit():
                raise _bad_request({"error": "assignee_ids is invalid"})
            if int(text) != 0 and int(text) not in ids:
                ids.append(int(text))
        if self.tier != "premium":
            ids = ids[:1]
        users = (self._store.users.get(user_id) for user_id in ids)
        return [dict(user) for user in users if user is not None]

    @staticmethod
    def _set_assignees(record: IssueRecord, assignees: list[dict[str, Any]]) -> None:
        record.data["assignees"] = assignees
        record.data["assignee"] = dict(assignees[0]) if assignees else None

    def _run_commands(
        self,
        commands: list[Command],
        project: ProjectRecord,
        record: IssueRecord,
        *,
        persisted: bool,
        source: str,
    ) -> Outcome:
        return execute(
            commands,
            record,
            project,
            premium=self.tier == "premium",
            persisted=persisted,
            source=source,
            find_user=self._store.user_by_username,
        )

    def _notify(
        self, record: IssueRecord, project: ProjectRecord, text: str, *, old_text: str
    ) -> None:
        """Record a notification for each user that text newly mentions."""
        already = set(find_mentions(old_text))
        reference = f"{project.path}#{record.iid}"
        for name in find_mentions(text):
            if name not in already:
                self.notifications.append({"mention": name, "issue": reference})

    def _update_issue(
        self, request: Request, project: ProjectRecord, record: IssueRecord
    ) -> Response:
        self._update_issue_record(project, record, self._params(request))
        return Response(200, record.as_json())

    def _update_issue_record(
        self, project: ProjectRecord, record: IssueRecord, params: dict[str, Any]
    ) -> None:
        if not any(name in params for name in _UPDATE_PARAMETERS):
            listed = ", ".join(_UPDATE_PARAMETERS)
            raise _bad_request(
                {
                    "error": f"{listed} are missing, at least one parameter "
                    "must be provided"
                }
            )
        data = record.data
        old_text = f"{data['title']}\n{data['description'] or ''}"
        state_event = params.get("state_event")
        if state_event is not None and state_event not in ("close", "reopen"):
            raise _bad_request({"error": "state_event does not have a valid value"})
        issue_type = params.get("issue_type")
        if issue_type is not None and issue_type not in ISSUE_TYPES:
            raise _bad_request({"error": "issue_type does not have a valid value"})
        if "title" in params:
            _check_title(str(params["title"]))
        description = params.get("description")
        commands: list[Command] = []
        if description is not None:
            description = str(description)
            _check_description(description)
            description, commands = extract(description)
        confidential = _parse_bool(params, "confidential")
        assignees = self._parse_assignees(params)
        # Every check runs before the first change, so a 400 changes nothing.
        added = _parse_labels(params.get("labels"))
        added += _parse_labels(params.get("add_labels"))
        removed = _parse_labels(params.get("remove_labels"))

        if "title" in params:
            data["title"] = str(params["title"])
        if description is not None:
            data["description"] = description
        if confidential is not None:
            data["confidential"] = confidential
        if issue_type is not None:
            data["issue_type"] = issue_type
            data["type"] = issue_type.upper()
        if assignees is not None:
            self._set_assignees(record, assignees)
        if any(name in params for name in ("labels", "add_labels", "remove_labels")):
            base = [] if "labels" in params else list(data["labels"])
            self._apply_labels(project, record, base, added, removed)
        if state_event == "close" and data["state"] == "opened":
            data["state"] = "closed"
            data["closed_at"] = now_iso()
            data["closed_by"] = dict(BOT_USER)
        elif state_event == "reopen" and data["state"] == "closed":
            data["state"] = "opened"
            data["closed_at"] = None
            data["closed_by"] = None
        record.touch()
        self._run_commands(
            commands, project, record, persisted=True, source="description"
        )
        new_text = f"{data['title']}\n{data['description'] or ''}"
        self._notify(record, project, new_text, old_text=old_text)

    # Notes

    def _list_notes(self, request: Request, record: IssueRecord) -> Response:
        params = self._params(request)
        order_by = str(params.get("order_by") or "created_at")
        if order_by not in ("created_at", "updated_at"):
            raise _bad_request({"error": "order_by does not have a valid value"})
        descending = str(params.get("sort") or "desc") != "asc"
        notes = sorted(
            record.notes,
            key=lambda note: (note[order_by], note["id"]),
            reverse=descending,
        )
        return self._paginate(request, [dict(note) for note in notes])

    def _create_note(
        self, request: Request, project: ProjectRecord, record: IssueRecord
    ) -> Response:
        params = self._params(request)
        if params.get("body") is None:
            raise _bad_request({"error": "body is missing"})
        body = str(params["body"])
        if len(body) > NOTE_MAX:
            message = f"is too long (maximum is {NOTE_MAX} characters)"
            raise _bad_request({"message": {"note": [message]}})
        if not body.strip():
            raise _bad_request({"message": {"note": ["can't be blank"]}})
        # "confidential" is the name GitLab used before 15.5, still accepted.
        internal = bool(
            _parse_bool(params, "internal") or _parse_bool(params, "confidential")
        )

        stored, commands = extract(body)
        outcome = self._run_commands(
            commands, project, record, persisted=True, source="note"
        )
        if commands and not stored.strip():
            if outcome.applied == 0:
                # GitLab responds with 400 when a note made only of commands
                # ran none of them.
                message = "400 Bad request - " + ", ".join(outcome.messages)
                raise _bad_request({"message": message})
            return Response(
                202,
                {"commands_changes": outcome.changes, "summary": outcome.messages},
            )

        stamp = now_iso()
        note = {
            "id": self._store.new_note_id(),
            "type": None,
            "body": stored,
            "attachment": None,
            "author": dict(BOT_USER),
            "created_at": stamp,
            "updated_at": stamp,
            "system": False,
            "noteable_id": record.data["id"],
            "noteable_type": "Issue",
            "project_id": project.id,
            "resolvable": False,
            "confidential": internal,
            "internal": internal,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": record.iid,
        }
        record.notes.append(note)
        record.touch()
        self._notify(record, project, stored, old_text="")
        created = dict(note)
        created["commands_changes"] = outcome.changes
        return Response(201, created)

    def _update_note(
        self,
        request: Request,
        project: ProjectRecord,
        record: IssueRecord,
        note: dict[str, Any],
    ) -> Response:
        params = self._params(request)
        if "body" in params:
            body = str(params["body"] or "")
            if not body.strip():
                raise _bad_request({"error": "body is empty"})
            if len(body) > NOTE_MAX:
                message = f"is too long (maximum is {NOTE_MAX} characters)"
                raise _bad_request({"message": {"note": [message]}})
            # NOTE: GitLab also runs quick actions in an edited note; the
            # sandbox stores the edited body as it is.
            old_body = note["body"]
            note["body"] = body
            note["updated_at"] = now_iso()
            self._notify(record, project, body, old_text=old_body)
        return Response(200, dict(note))
