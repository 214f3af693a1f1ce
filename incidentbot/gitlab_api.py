"""The bot's GitLab adapter: incidents, labels, notes and timeline events.

Built on python-gitlab. Every request has a timeout. Responses with status
429 or 5xx are retried a bounded number of times after the wait that GitLab
requests in Retry-After, and a wait longer than max_retry_after fails at once. Every
failure reaches the caller as one GitLabError that names what the bot was
doing.
"""

from __future__ import annotations

import contextvars
import logging
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import gitlab
import gitlab.const
import gitlab.exceptions
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from incidentbot.service_error import ServiceError

log = logging.getLogger("incidentbot.gitlab")

DEFAULT_TIMEOUT = 10.0
# GitLab rejects a timeline event note longer than this when a user (or a
# token) writes it: IncidentManagement::TimelineEvent validates :note with
# maximum 280 in the :user_input context.
TIMELINE_NOTE_MAX = 280

_TIMELINE_EVENT_CREATE = """
mutation CreateTimelineEvent($input: TimelineEventCreateInput!) {
  timelineEventCreate(input: $input) {
    timelineEvent { id }
    errors
  }
}
"""

_TIMELINE_EVENT_DESTROY = """
mutation DestroyTimelineEvent($input: TimelineEventDestroyInput!) {
  timelineEventDestroy(input: $input) {
    timelineEvent { id }
    errors
  }
}
"""

# Description of the operation running on this thread, for retry log lines.
_ACTION: contextvars.ContextVar[str] = contextvars.ContextVar(
    "gitlab_action", default="calling GitLab"
)


class GitLabError(ServiceError):
    """One error family: carries what the bot was doing, GitLab's status and message.

    status is the HTTP status of GitLab's response, or None when no response
    came (a timeout or a connection failure). str(error) is one sentence for chat
    and logs. It never contains the token.
    """

    service = "GitLab"


@dataclass(frozen=True)
class Issue:
    """A GitLab issue (incident, follow-up or review) as the bot uses it."""

    project_id: int
    project_path: str
    iid: int
    global_id: int
    web_url: str
    title: str
    description: str
    labels: tuple[str, ...]
    state: str
    confidential: bool
    issue_type: str
    moved_to_id: int | None
    # Usernames, in GitLab's order.
    assignees: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """Full reference, for example infra/production#12."""
        return f"{self.project_path}#{self.iid}"


@dataclass(frozen=True)
class Note:
    """A note (comment) the bot posted.

    id is None and body is empty when the body was made only of quick
    actions: GitLab then runs them, stores no note and responds with 202.
    """

    id: int | None
    body: str
    internal: bool


class _RetryAfterTooLong(Exception):
    def __init__(self, status: int, wait: float) -> None:
        super().__init__(status, wait)
        self.status = status
        self.wait = wait


class _NotRetried(Exception):
    """A failed POST that may have reached GitLab, so it must not be sent again."""

    def __init__(self, error: requests.exceptions.RequestException) -> None:
        super().__init__(error)
        self.error = error


def _retryable_status(status: int, reason: str) -> bool:
    # The statuses python-gitlab 8.6 retries (gitlab.utils.Retry) when
    # retry_transient_errors is on.
    if status == 429 or status in gitlab.const.RETRYABLE_TRANSIENT_ERROR_CODES:
        return True
    return status == 409 and "Resource lock" in reason


def _request_not_sent(error: requests.exceptions.RequestException) -> bool:
    """Tell whether error happened before any byte of the request left."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError) and error.args:
        reason = getattr(error.args[0], "reason", None)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


class _RetryGuard(HTTPAdapter):
    """Transport adapter that receives every HTTP attempt python-gitlab makes.

    python-gitlab 8.6 (gitlab.utils.Retry.handle_retry_on_status) sleeps for
    int(Retry-After) seconds however large it is, and fails on a Retry-After
    that is an HTTP date. This adapter counts attempts, fails fast when the
    wait is longer than max_retry_after, rewrites a date or fraction into
    whole seconds, and logs each retry that python-gitlab will make.
    """

    def __init__(self, *, retries: int, max_retry_after: float) -> None:
        super().__init__()
        self.retries = retries
        self.max_retry_after = max_retry_after
        self.count = 0
        self._count_lock = threading.Lock()
        self._attempts = threading.local()

    def begin(self) -> None:
        """Start counting attempts afresh for a new operation on this thread."""
        self._attempts.key = None
        self._attempts.number = 0

    def _next_attempt(self, key: tuple[str, str]) -> int:
        # A retry repeats the same method and URL; another page or request
        # starts again at attempt 1.
        if getattr(self._attempts, "key", None) != key:
            self._attempts.key = key
            self._attempts.number = 0
        self._attempts.number += 1
        return int(self._attempts.number)

    def _wait_time(self, headers: MutableMapping[str, str], attempt: int) -> float:
        """Return how long python-gitlab will wait, normalising Retry-After."""
        value = headers.get("Retry-After")
        if value is not None:
            seconds = _parse_retry_after(value)
            if seconds is None:
                # python-gitlab would crash on int(value); fall back to its
                # exponential backoff instead.
                del headers["Retry-After"]
            elif math.isfinite(seconds):
                headers["Retry-After"] = str(math.ceil(seconds))
                return float(math.ceil(seconds))
            else:
                return seconds
        reset = headers.get("RateLimit-Reset")
        if reset is not None and reset.isdigit():
            return max(0.0, int(reset) - time.time())
        return 2 ** (attempt - 1) * 0.1

    def send(
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        with self._count_lock:
            self.count += 1
        method = (request.method or "GET").upper()
        attempt = self._next_attempt((method, request.url or ""))
        will_retry = attempt <= self.retries
        try:
            response = super().send(request, **kwargs)
        except requests.exceptions.RequestException as error:
            if method == "POST" and not _request_not_sent(error):
                # GitLab may have created the note or issue already, and
                # python-gitlab would send the POST again.
                raise _NotRetried(error) from error
            # The errors python-gitlab 8.6 retries (Gitlab.http_request).
            retried = (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.Timeout,
            )
            if will_retry and isinstance(error, retried):
                log.warning(
                    "GitLab request failed (%s) while %s; retry %d of %d in %.1f s",
                    type(error).__name__,
                    _ACTION.get(),
                    attempt,
                    self.retries,
                    2 ** (attempt - 1) * 0.1,
                )
            raise
        if not _retryable_status(response.status_code, response.reason or ""):
            return response
        wait = self._wait_time(response.headers, attempt)
        if wait > self.max_retry_after:
            response.close()
            raise _RetryAfterTooLong(response.status_code, wait)
        if will_retry:
            log.warning(
                "GitLab returned status %d while %s; retry %d of %d in %.1f s",
                response.status_code,
                _ACTION.get(),
                attempt,
                self.retries,
                wait,
            )
        return response


def _parse_retry_after(value: str) -> float | None:
    """Return Retry-After in seconds (a number or an HTTP date), or None."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _message_text(status: int | None, raw: Any) -> str:
    """Return GitLab's error message as one short line."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, dict):
        parts: list[str] = []
        for field, problems in raw.items():
            listed = problems if isinstance(problems, list) else [problems]
            parts.extend(f"{field} {problem}" for problem in listed)
        raw = "; ".join(parts)
    elif isinstance(raw, list):
        raw = "; ".join(str(item) for item in raw)
    text = " ".join(str(raw).split())
    if (not text or text.startswith("<")) and status is not None:
        # For an empty body or a proxy's HTML page, the status line is clearer.
        try:
            text = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            text = str(status)
    if len(text) > 300:
        text = text[:297] + "..."
    return text


class GitLab:
    """The GitLab calls the bot makes, each turned into one or a few requests.

    Projects are given as a full path ("infra/production") or a numeric id.
    Paths cost no lookup: python-gitlab URL-encodes them into the API path.
    """

    def __init__(
        self,
        client: gitlab.Gitlab,
        *,
        max_retries: int = 3,
        max_retry_after: float = 30.0,
    ) -> None:
        self._client = client
        self._timeout = float(client.timeout or DEFAULT_TIMEOUT)
        self._max_retries = max_retries
        self._guard = _RetryGuard(retries=max_retries, max_retry_after=max_retry_after)
        client.session.mount("http://", self._guard)
        client.session.mount("https://", self._guard)
        self._secrets = [
            secret
            for secret in (client.private_token, client.oauth_token, client.job_token)
            if secret
        ]
        self._paths: dict[int, str] = {}
        self._paths_lock = threading.Lock()
        self.url: str = client.url

    @classmethod
    def connect(
        cls,
        url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        max_retry_after: float = 30.0,
    ) -> GitLab:
        """Return an adapter for the GitLab at url (base URL, no /api/v4).

        Makes no request, so a wrong URL or token shows on the first call.
        Raises ValueError for a URL that is not http(s) or an empty token.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # python-gitlab would quietly use https://gitlab.com for "".
            raise ValueError(
                f"invalid GitLab URL {url!r}: expected http(s)://host, for "
                "example https://gitlab.example.com (set GITLAB_URL)"
            )
        if not token:
            raise ValueError("the GitLab token is empty: set GITLAB_TOKEN")
        client = gitlab.Gitlab(
            url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=True,
        )
        return cls(client, max_retries=max_retries, max_retry_after=max_retry_after)

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._guard.count

    # Plumbing

    @property
    def _options(self) -> dict[str, Any]:
        return {
            "timeout": self._timeout,
            "max_retries": self._max_retries,
            "retry_transient_errors": True,
        }

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[masked]")
        return text

    @contextmanager
    def _calling(self, action: str) -> Iterator[None]:
        """Turn every failure inside the block into a GitLabError naming action."""
        action_token = _ACTION.set(action)
        self._guard.begin()
        try:
            yield
        except _RetryAfterTooLong as error:
            raise GitLabError(
                action,
                error.status,
                f"asked to retry after {error.wait:.0f} s",
                sentence=(
                    f"GitLab answered {error.status} and asked to retry after "
                    f"{error.wait:.0f} s, longer than the "
                    f"{self._guard.max_retry_after:g} s the bot waits, while {action}."
                ),
            ) from None
        except _NotRetried as error:
            raise self._transport_error(action, error.error) from error.error
        except gitlab.exceptions.GitlabError as error:
            status = error.response_code
            message = self._mask(_message_text(status, error.error_message))
            raise GitLabError(action, status, message) from error
        except requests.exceptions.RequestException as error:
            raise self._transport_error(action, error) from error
        finally:
            _ACTION.reset(action_token)

    def _transport_error(
        self, action: str, error: requests.exceptions.RequestException
    ) -> GitLabError:
        if isinstance(error, requests.exceptions.Timeout):
            seconds = f"{self._timeout:g} s"
            return GitLabError(
                action,
                None,
                f"no answer within {seconds}",
                sentence=f"GitLab did not answer within {seconds} while {action}.",
            )
        if isinstance(error, requests.exceptions.ConnectionError):
            return GitLabError(
                action,
                None,
                f"cannot connect to {self.url}",
                sentence=f"Could not connect to GitLab at {self.url} while {action}.",
            )
        return GitLabError(action, None, self._mask(type(error).__name__))

    def _project(self, project: str | int) -> Any:
        """Return a lazy python-gitlab project: building it sends nothing."""
        key: str | int = project
        if isinstance(project, str) and project.isdigit():
            key = int(project)
        return self._client.projects.get(key, lazy=True)

    def _describe(self, project: str | int) -> str:
        if isinstance(project, str) and not project.isdigit():
            return project
        with self._paths_lock:
            path = self._paths.get(int(project))
        return path or f"project {project}"

    def _ref(self, project: str | int, iid: int) -> str:
        return f"{self._describe(project)}#{iid}"

    def _remember_path(self, project_id: int, path: str) -> None:
        with self._paths_lock:
            self._paths[project_id] = path

    def _issue(self, data: Mapping[str, Any]) -> Issue:
        """Build an Issue from GitLab's issue JSON."""
        project_id = int(data["project_id"])
        full = str((data.get("references") or {}).get("full") or "")
        if "#" in full:
            path = full.rpartition("#")[0]
            self._remember_path(project_id, path)
        else:
            path = self.project_path(project_id)
        issue_type = data.get("issue_type") or str(data.get("type") or "issue").lower()
        moved_to = data.get("moved_to_id")
        return Issue(
            project_id=project_id,
            project_path=path,
            iid=int(data["iid"]),
            global_id=int(data["id"]),
            web_url=str(data.get("web_url") or ""),
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            labels=tuple(data.get("labels") or ()),
            state=str(data.get("state") or ""),
            confidential=bool(data.get("confidential")),
            issue_type=str(issue_type),
            moved_to_id=int(moved_to) if moved_to is not None else None,
            assignees=tuple(
                str(user["username"]) for user in data.get("assignees") or ()
            ),
        )

    # Projects and labels

    def project_path(self, project: str | int) -> str:
        """Return the project's full path; a numeric id is looked up once."""
        if isinstance(project, str) and not project.isdigit():
            return project.strip("/")
        project_id = int(project)
        with self._paths_lock:
            cached = self._paths.get(project_id)
        if cached is not None:
            return cached
        with self._calling(f"looking up project {project_id}"):
            found = self._client.projects.get(project_id, **self._options)
        path = str(found.path_with_namespace)
        self._remember_path(project_id, path)
        return path

    def label_names(self, project: str | int) -> set[str]:
        """Return the names of all project labels, reading every page."""
        with self._calling(f"listing the labels of {self._describe(project)}"):
            labels = self._project(project).labels.list(
                get_all=True, per_page=100, **self._options
            )
        return {str(label.name) for label in labels}

    def create_label(
        self,
        project: str | int,
        name: str,
        color: str = "#dc143c",
        description: str = "",
    ) -> None:
        """Create a project label; a label that already exists is left as it is."""
        check_label_names([name])
        action = f"creating label {name!r} in {self._describe(project)}"
        with self._calling(action):
            try:
                self._project(project).labels.create(
                    {"name": name, "color": color, "description": description},
                    **self._options,
                )
            except gitlab.exceptions.GitlabCreateError as error:
                if error.response_code != 409:
                    raise

    # Issues

    def create_incident(
        self,
        project: str | int,
        title: str,
        description: str,
        labels: Sequence[str],
        confidential: bool = False,
    ) -> Issue:
        """Create an issue of type incident with one request."""
        check_label_names(labels)
        data: dict[str, Any] = {
            "title": title,
            "description": description,
            "issue_type": "incident",
            "confidential": confidential,
        }
        if labels:
            data["labels"] = ",".join(labels)
        with self._calling(f"creating an incident in {self._describe(project)}"):
            created = self._project(project).issues.create(data, **self._options)
        return self._issue(created.attributes)

    def find_incident(
        self, project: str | int, title: str, created_after: datetime
    ) -> Issue | None:
        """Return the newest incident with this exact title created since then.

        After a create request timed out, this shows whether GitLab created
        the issue anyway, so the bot can adopt it instead of making a second.
        """
        return self.find_new_issue(project, title, created_after, "incident")

    def find_new_issue(
        self, project: str | int, title: str, created_after: datetime, issue_type: str
    ) -> Issue | None:
        """Return the newest issue of this type and exact title created since then."""
        with self._calling(
            f"looking for {issue_type} '{title}' in {self._describe(project)}"
        ):
            found = self._project(project).issues.list(
                search=title,
                issue_type=issue_type,
                created_after=created_after.isoformat(),
                order_by="created_at",
                sort="desc",
                per_page=20,
                get_all=False,
                **self._options,
            )
        for item in found:
            if item.attributes.get("title") == title:
                return self._issue(item.attributes)
        return None

    def find_note(self, project: str | int, iid: int, body: str) -> Note | None:
        """Return the newest of the last 20 notes whose body is exactly `body`.

        After a note request timed out, this shows whether GitLab created the
        note anyway, so that running the command again makes no duplicate.
        """
        ref = self._ref(project, iid)
        with self._calling(f"looking for a note on {ref}"):
            issue = self._project(project).issues.get(iid, lazy=True)
            found = issue.notes.list(
                order_by="created_at",
                sort="desc",
                per_page=20,
                get_all=False,
                **self._options,
            )
        for item in found:
            data = item.attributes
            if data.get("body") == body and data.get("id") is not None:
                internal = bool(data.get("internal", data.get("confidential", False)))
                return Note(id=int(data["id"]), body=body, internal=internal)
        return None

    def get_issue(self, project: str | int, iid: int) -> Issue:
        with self._calling(f"reading {self._ref(project, iid)}"):
            found = self._project(project).issues.get(iid, **self._options)
        return self._issue(found.attributes)

    def edit_issue(
        self,
        project: str | int,
        iid: int,
        *,
        description: str | None = None,
        add_labels: Sequence[str] = (),
        remove_labels: Sequence[str] = (),
        state_event: str | None = None,
        confidential: bool | None = None,
    ) -> Issue:
        """Change an issue with one PUT and return it as GitLab stored it.

        A label in both add_labels and remove_labels ends up removed, as on
        GitLab. With nothing to change, this reads the issue instead.
        """
        if state_event not in (None, "close", "reopen"):
            raise ValueError(
                f"state_event must be 'close' or 'reopen', not {state_event!r}"
            )
        check_label_names([*add_labels, *remove_labels])
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = description
        if add_labels:
            changes["add_labels"] = ",".join(add_labels)
        if remove_labels:
            changes["remove_labels"] = ",".join(remove_labels)
        if state_event is not None:
            changes["state_event"] = state_event
        if confidential is not None:
            changes["confidential"] = confidential
        if not changes:
            return self.get_issue(project, iid)
        with self._calling(f"editing {self._ref(project, iid)}"):
            data = self._project(project).issues.update(iid, changes, **self._options)
        return self._issue(data)

    # Notes

    def add_note(
        self, project: str | int, iid: int, body: str, *, internal: bool = False
    ) -> Note:
        """Post a note with one request (two when an internal note must be undone).

        When internal was requested but GitLab stored the note as public (a
        GitLab that ignores the parameter), the note is deleted and a
        GitLabError reports it.
        """
        ref = self._ref(project, iid)
        kind = "an internal note" if internal else "a note"
        action = f"posting {kind} on {ref}"
        payload: dict[str, Any] = {"body": body}
        if internal:
            payload["internal"] = True
        with self._calling(action):
            issue = self._project(project).issues.get(iid, lazy=True)
            created = issue.notes.create(payload, **self._options)
        data = created.attributes
        note_id = int(data["id"]) if data.get("id") is not None else None
        stored_internal = bool(data.get("internal", data.get("confidential", False)))
        if note_id is None:
            return Note(id=None, body="", internal=internal)
        if internal and not stored_internal:
            self._undo_public_note(project, iid, note_id, action)
        return Note(
            id=note_id, body=str(data.get("body") or ""), internal=stored_internal
        )

    def _undo_public_note(
        self, project: str | int, iid: int, note_id: int, action: str
    ) -> None:
        ref = self._ref(project, iid)
        log.error(
            "GitLab stored note %d on %s as public although internal was "
            "requested; deleting it",
            note_id,
            ref,
        )
        message = "the note was stored as public"
        try:
            self.delete_note(project, iid, note_id)
        except GitLabError as error:
            raise GitLabError(
                action,
                201,
                message,
                sentence=(
                    f"GitLab stored note {note_id} on {ref} as public although an "
                    f"internal note was requested, and deleting it failed: {error}"
                ),
            ) from error
        raise GitLabError(
            action,
            201,
            message,
            sentence=(
                f"GitLab stored the note on {ref} as public although an internal "
                "note was requested, so the bot deleted it. Check that this "
                "GitLab supports internal notes (version 15.0 or later)."
            ),
        )

    def delete_note(self, project: str | int, iid: int, note_id: int) -> None:
        """Delete a note; a note that is already gone is not an error."""
        with self._calling(f"deleting note {note_id} on {self._ref(project, iid)}"):
            issue = self._project(project).issues.get(iid, lazy=True)
            try:
                issue.notes.delete(note_id, **self._options)
            except gitlab.exceptions.GitlabDeleteError as error:
                if error.response_code != 404:
                    raise

    # Timeline events

    def create_timeline_event(
        self,
        issue: Issue,
        note: str,
        occurred_at: datetime,
        tags: Sequence[str] = (),
    ) -> str | None:
        """Create an incident timeline event and return its global id.

        Uses the GraphQL mutation timelineEventCreate. A note longer than
        GitLab's 280-character limit is cut to 279 characters plus an
        ellipsis. A naive occurred_at is taken as UTC. Errors in the GraphQL
        response raise GitLabError.
        """
        if len(note) > TIMELINE_NOTE_MAX:
            note = note[: TIMELINE_NOTE_MAX - 1] + "…"
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        stamp = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        event_input: dict[str, Any] = {
            "incidentId": f"gid://gitlab/Issue/{issue.global_id}",
            "note": note,
            "occurredAt": stamp,
        }
        if tags:
            # Only sent when needed: GitLab before 15.9 rejects the field.
            event_input["timelineEventTagNames"] = list(tags)
        action = f"creating a timeline event on {issue.ref}"
        payload = self._mutate(
            _TIMELINE_EVENT_CREATE, "timelineEventCreate", event_input, action
        )
        event = payload.get("timelineEvent")
        return str(event["id"]) if event and event.get("id") else None

    def delete_timeline_event(self, issue: Issue, event_id: str) -> None:
        """Delete an incident timeline event (GraphQL timelineEventDestroy)."""
        action = f"deleting a timeline event on {issue.ref}"
        self._mutate(
            _TIMELINE_EVENT_DESTROY, "timelineEventDestroy", {"id": event_id}, action
        )

    def _mutate(
        self, query: str, name: str, mutation_input: dict[str, Any], action: str
    ) -> dict[str, Any]:
        """Run one GraphQL mutation and return its payload.

        Errors in the response, at the top level or in the payload, raise
        GitLabError.
        """
        with self._calling(action):
            answer = self._client.http_post(
                f"{self.url}/api/graphql",
                post_data={"query": query, "variables": {"input": mutation_input}},
                **self._options,
            )
        if not isinstance(answer, dict):
            raise GitLabError(action, 200, "the GraphQL response is not JSON")
        errors = [str(error.get("message")) for error in answer.get("errors") or ()]
        payload = (answer.get("data") or {}).get(name) or {}
        errors += [str(error) for error in payload.get("errors") or ()]
        if errors:
            message = self._mask("; ".join(errors))
            raise GitLabError(
                action,
                200,
                message,
                sentence=f"GitLab rejected the request ({message}) while {action}.",
            )
        return dict(payload)

    # URLs

    def issue_from_url(self, url: str) -> tuple[str, int]:
        """Return (project path, iid) for an issue URL of this GitLab.

        Accepts http and https, /-/issues/N, /-/issues/incident/N, the
        legacy /issues/N and /-/work_items/N, any subgroup depth and a GitLab
        served under a path prefix. Queries and #note_ anchors are ignored.
        Sends no request. Raises ValueError naming the URL otherwise.
        """
        expected = f"{self.url}/<group>/<project>/-/issues/<number>"
        parts = urlsplit(url.strip())
        base = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is not an issue URL: expected {expected}")
        if not _same_server(parts, base):
            raise ValueError(
                f"{url!r} is not on this GitLab ({self.url}): expected {expected}"
            )
        prefix = base.path.rstrip("/")
        path = unquote(parts.path)
        if prefix:
            if not path.startswith(prefix + "/"):
                raise ValueError(
                    f"{url!r} is not on this GitLab ({self.url}): expected {expected}"
                )
            path = path[len(prefix) :]
        match = _ISSUE_PATH.fullmatch(path)
        if match is None:
            raise ValueError(f"{url!r} is not an issue URL: expected {expected}")
        return match.group("project"), int(match.group("iid"))


# A project path is two or more segments of letters, digits, dots, dashes and
# underscores. A segment that is only "-" starts GitLab's page part instead.
_SEGMENT = r"(?!-(?:/|$))[A-Za-z0-9_.\-]+"
_ISSUE_PATH = re.compile(
    rf"/(?P<project>{_SEGMENT}(?:/{_SEGMENT})+)"
    r"(?:/-/issues(?:/incident)?|/-/work_items|/issues)"
    r"/(?P<iid>[1-9][0-9]*)/?"
)


def _same_server(parts: Any, base: Any) -> bool:
    """Tell whether a pasted URL points at the configured GitLab host and port.

    The scheme may differ (people paste https links to a GitLab the bot
    reaches over http), so a port only matters when either side names one.
    """
    if (parts.hostname or "").lower() != (base.hostname or "").lower():
        return False
    if parts.port is None and base.port is None:
        return True
    defaults = {"http": 80, "https": 443}
    return (parts.port or defaults[parts.scheme]) == (
        base.port or defaults[base.scheme]
    )


def check_label_names(names: Sequence[str]) -> None:
    """Raise ValueError for a label name that is empty or contains a comma."""
    # The API takes labels as one comma-separated string, and GitLab label
    # names cannot contain commas.
    for name in names:
        if "," in name or not name.strip():
            raise ValueError(
                f"invalid label name {name!r}: a label name must be non-empty "
                "and contain no comma"
            )
