"""A local emulator of PagerDuty's Events API v2 and the REST API v2 the bot uses.

One server on 127.0.0.1 serves both: POST /v2/enqueue (Events API v2) and
GET /users, /schedules, /escalation_policies, /services, /oncalls and
/incidents, POST /incidents (REST API v2). With tls=True it serves HTTPS
with a certificate made at start, which clients trust through ca_bundle.
The pagerduty client only accepts https:// base URLs, so the bot's adapter
needs tls=True.

Events create, update, acknowledge and resolve alerts and incidents by
dedup_key as PagerDuty documents (sandbox/pagerduty_store.py). A sandbox
without services is a sink instead: it accepts every event with 202 and only
records it. Tests set up users, schedules, escalation policies and services,
read incidents, alerts and the people paged, and can make the next requests
fail or stall.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox import pagerduty_render as render
from sandbox.faults import Fault, Faults
from sandbox.pagerduty_store import (
    Body,
    EscalationPolicy,
    RestError,
    Service,
    Store,
)
from sandbox.server import LocalServer, Request, Response
from sandbox.tls import SandboxCertificates, generate_certificates

log = logging.getLogger("sandbox.pagerduty")

_ITEM_ROUTE = re.compile(
    r"/(users|schedules|escalation_policies|services|incidents)/([^/]+)"
)
_EVENTS_PATH = "/v2/enqueue"


def _fault_response(fault: Fault, path: str) -> Response:
    """Return the response of an injected failure, with PagerDuty's error body."""
    body = fault.body
    if body is None:
        body = _default_error_body(fault.status, events=path == _EVENTS_PATH)
    return Response(fault.status, body, fault.response_headers())


def _default_error_body(status: int, *, events: bool) -> Body:
    # The REST bodies and codes are PagerDuty's documented ones (Errors and
    # Rate Limits pages). The Events API documents no bodies for 429 and
    # 5xx, so those follow its 400 body's shape.
    if events and status == 429:
        return {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. "
            "Please retry later.",
            "errors": ["Too many requests"],
        }
    if events:
        return {"status": "error", "message": "Internal error", "errors": []}
    if status == 429:
        return {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    return {
        "error": {
            "message": "An internal error has occurred. PagerDuty team has been "
            "notified.",
            "code": 2000,
        }
    }


class PagerDutySandbox:
    """PagerDuty emulator served on 127.0.0.1 in a background thread.

    With api_key, REST requests need "Authorization: Token token=<key>" (or
    "Bearer <key>") as on PagerDuty. api_key None turns REST authentication
    off, for tests that do not exercise it.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = False,
        api_key: str | None = None,
    ) -> None:
        self.api_key = api_key
        # (method, path) of every request, in order, faults included.
        self.requests: list[tuple[str, str]] = []
        # The JSON body of every POST /v2/enqueue, faults included, so tests
        # can check that a retry reused the dedup_key.
        self.enqueue_attempts: list[Any] = []
        self._host = host
        self._port = port
        self._tls = tls
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._store = Store()
        self._faults = Faults(self._lock)
        self._certificates: SandboxCertificates | None = None
        self._server: LocalServer | None = None

    # Python interface

    @property
    def url(self) -> str:
        """Base URL of both the REST API and the Events API, without a path."""
        if self._server is None:
            raise RuntimeError("the pagerduty sandbox is not started")
        return self._server.url

    @property
    def ca_bundle(self) -> Path | None:
        """PEM file of the CA that signed the sandbox's certificate, while TLS runs."""
        return self._certificates.ca_bundle if self._certificates else None

    def start(self) -> None:
        if self._server is not None:
            return
        self._stopped.clear()
        context = None
        if self._tls:
            self._certificates = generate_certificates(self._host, name="pagerduty")
            context = self._certificates.server_context
        self._server = LocalServer(
            self._handle,
            host=self._host,
            port=self._port,
            name="pagerduty",
            ssl_context=context,
        )
        self._server.start()

    def stop(self) -> None:
        # Wake requests sleeping in delay_next so that they finish.
        self._stopped.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._certificates is not None:
            self._certificates.remove()
            self._certificates = None

    def __enter__(self) -> PagerDutySandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Setup

    def add_user(self, name: str, email: str, *, id: str | None = None) -> str:
        """Create a user and return its id.

        id is a fixed id of upper-case letters and digits, such as PUALICE,
        and defaults to a generated one. Without id, an existing user with
        this email is returned instead. Raises ValueError for an id already
        used or an email that belongs to another user.
        """
        with self._lock:
            return self._store.add_user(name, email, id=id).id

    def add_schedule(
        self, name: str, on_call: str | None = None, *, id: str | None = None
    ) -> str:
        """Create a schedule with on_call (a user id, or None for a gap) on call now.

        id is a fixed id as for add_user, and defaults to a generated one.
        Returns the schedule's id.
        """
        with self._lock:
            return self._store.add_schedule(name, on_call, id=id).id

    def set_on_call(self, schedule_id: str, user_id: str | None) -> None:
        """Hand a schedule's current shift to user_id, or leave it empty with None."""
        with self._lock:
            schedule = self._store.schedules[schedule_id]
            if user_id is not None and user_id not in self._store.users:
                raise KeyError(f"no user {user_id!r} in the sandbox")
            schedule.on_call = user_id

    def add_escalation_policy(
        self,
        name: str,
        levels: Sequence[Sequence[str]],
        *,
        id: str | None = None,
    ) -> str:
        """Create an escalation policy and return its id.

        levels contains the user and schedule ids of each escalation rule,
        first level first. id is a fixed id as for add_user, and defaults to
        a generated one.
        """
        with self._lock:
            return self._store.add_policy(name, levels, id=id).id

    def add_service(
        self,
        name: str,
        escalation_policy_id: str,
        *,
        routing_key: str | None = None,
        id: str | None = None,
    ) -> Service:
        """Create a service with an Events API v2 integration.

        routing_key defaults to 32 random hexadecimal digits, the format of
        PagerDuty's integration keys. id is a fixed id as for add_user, and
        defaults to a generated one. Returns a copy of the service record,
        with its id and routing_key.
        """
        with self._lock:
            created = self._store.add_service(
                name, escalation_policy_id, routing_key, id=id
            )
            return dataclasses.replace(created)

    def acknowledge_incident(self, incident_id: str) -> None:
        """Acknowledge an incident as a responder would in the web app."""
        with self._lock:
            self._store.set_incident_status(incident_id, "acknowledged")

    def resolve_incident(self, incident_id: str) -> None:
        """Resolve an incident and its alerts as a responder would in the web app."""
        with self._lock:
            self._store.set_incident_status(incident_id, "resolved")

    # Reading what happened

    @property
    def events(self) -> list[Body]:
        """Every Events API v2 event received as a JSON object, valid or not."""
        with self._lock:
            return list(self._store.events)

    def incidents(self) -> list[Body]:
        """Return all incidents, oldest first, as GET /incidents renders them."""
        with self._lock:
            return [
                render.incident(self._base(), record, self._store)
                for record in self._store.incidents.values()
            ]

    def alerts(self) -> list[Body]:
        """Return all alerts, oldest first.

        Each is a dict of id, dedup_key, status, summary, severity, source,
        custom_details, incident (id), service (id) and trigger_count.
        """
        with self._lock:
            return [
                {
                    "id": alert.id,
                    "dedup_key": alert.dedup_key,
                    "status": alert.status,
                    "summary": alert.summary,
                    "severity": alert.severity,
                    "source": alert.source,
                    "custom_details": alert.custom_details,
                    "incident": alert.incident_id,
                    "service": alert.service_id,
                    "trigger_count": alert.trigger_count,
                }
                for alert in self._store.alerts.values()
            ]

    def notifications(self) -> list[dict[str, str]]:
        """Return the people paged, oldest first: user, email, incident (id), title.

        A new incident pages the first escalation level that has anyone on
        call. A trigger that updates an open alert pages no one.
        """
        with self._lock:
            return [dict(entry) for entry in self._store.notifications]

    # Faults

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
        searched in the request path. The body defaults to PagerDuty's error
        body for the status, in the Events API's form for /v2/enqueue and the
        REST API's form elsewhere. retry_after adds a Retry-After header, and
        headers adds any others. times=0 cancels what is left of earlier
        failures with the same method and pattern.
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

        A stalled request is still carried out after the delay, even when
        the client has given up waiting. times=0 cancels what is left of
        earlier delays with the same method and pattern.
        """
        self._faults.delay(method, path_pattern, seconds, times=times)

    # Request handling

    def _base(self) -> str:
        return self._server.url if self._server is not None else ""

    def _handle(self, request: Request) -> Response:
        method = request.method.upper()
        events = request.path == _EVENTS_PATH
        with self._lock:
            self.requests.append((method, request.path))
            if events and method == "POST":
                self.enqueue_attempts.append(_parse_or_none(request.body))
            delay, failure = self._faults.take(request)
        if delay is not None:
            self._stopped.wait(delay.seconds)
        if failure is not None:
            return _fault_response(failure, request.path)
        try:
            if events:
                return self._enqueue(request)
            if not self._authorized(request):
                return Response(
                    401, {"error": {"message": "Authentication failed", "code": 2006}}
                )
            with self._lock:
                return self._route(request, method)
        except RestError as error:
            return Response(error.status, error.body)
        except Exception:
            # A sandbox bug: respond as PagerDuty would and log the traceback.
            log.exception("sandbox failed on %s %s", request.method, request.path)
            return Response(500, _default_error_body(500, events=events))

    def _enqueue(self, request: Request) -> Response:
        if request.method.upper() != "POST":
            return Response(404, {"error": {"message": "Not Found", "code": 2100}})
        try:
            event = request.json_body()
        except ValueError:
            event = None
        with self._lock:
            status, body = self._store.enqueue(event)
        return Response(status, body)

    def _authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        header = request.headers.get("Authorization", "")
        for prefix in ("Token token=", "Bearer "):
            if header.startswith(prefix):
                return hmac.compare_digest(header[len(prefix) :], self.api_key)
        return False

    def _route(self, request: Request, method: str) -> Response:
        path = request.path.rstrip("/")
        query = request.query
        base = self._base()
        store = self._store
        if method == "POST" and path == "/incidents":
            created = store.create_incident(_json(request), request.headers.get("From"))
            return Response(201, {"incident": render.incident(base, created, store)})
        if method != "GET":
            raise RestError(404, "Not Found", 2100)
        if path == "/oncalls":
            return Response(200, render.page("oncalls", self._oncalls(query), query))
        collections = {
            "/users": ("users", self._users),
            "/schedules": ("schedules", self._schedules),
            "/escalation_policies": ("escalation_policies", self._policies),
            "/services": ("services", self._services),
            "/incidents": ("incidents", self._incidents),
        }
        if path in collections:
            wrapper, lister = collections[path]
            return Response(200, render.page(wrapper, lister(query), query))
        match = _ITEM_ROUTE.fullmatch(path)
        if match is not None:
            return Response(200, self._item(match[1], match[2]))
        raise RestError(404, "Not Found", 2100)

    def _item(self, collection: str, record_id: str) -> Body:
        base, store = self._base(), self._store
        renderers: dict[str, tuple[str, Any]] = {
            "users": ("user", lambda: render.user(base, store.users[record_id])),
            "schedules": (
                "schedule",
                lambda: render.schedule(base, store.schedules[record_id]),
            ),
            "escalation_policies": (
                "escalation_policy",
                lambda: render.policy(base, store.policies[record_id], store),
            ),
            "services": (
                "service",
                lambda: render.service(base, store.services[record_id], store),
            ),
            "incidents": (
                "incident",
                lambda: render.incident(base, store.incidents[record_id], store),
            ),
        }
        wrapper, build = renderers[collection]
        try:
            return {wrapper: build()}
        except KeyError:
            raise RestError(404, "Not Found", 2100) from None

    def _users(self, query: dict[str, list[str]]) -> list[Body]:
        text = (_last(query, "query") or "").lower()
        found = [
            u
            for u in self._store.users.values()
            if text in u.name.lower() or text in u.email.lower()
        ]
        return [
            render.user(self._base(), u) for u in sorted(found, key=lambda u: u.name)
        ]

    def _schedules(self, query: dict[str, list[str]]) -> list[Body]:
        text = (_last(query, "query") or "").lower()
        found = [s for s in self._store.schedules.values() if text in s.name.lower()]
        return [render.schedule(self._base(), s) for s in found]

    def _policies(self, query: dict[str, list[str]]) -> list[Body]:
        text = (_last(query, "query") or "").lower()
        found = [p for p in self._store.policies.values() if text in p.name.lower()]
        return [
            render.policy(self._base(), p, self._store)
            for p in sorted(found, key=lambda p: p.name)
        ]

    def _services(self, query: dict[str, list[str]]) -> list[Body]:
        text = (_last(query, "query") or "").lower()
        found = [s for s in self._store.services.values() if text in s.name.lower()]
        return [
            render.service(self._base(), s, self._store)
            for s in sorted(found, key=lambda s: s.name)
        ]

    def _incidents(self, query: dict[str, list[str]]) -> list[Body]:
        statuses = _values(query, "statuses")
        service_ids = _values(query, "service_ids")
        incident_key = _last(query, "incident_key")
        found = [
            i
            for i in self._store.incidents.values()
            if (not statuses or i.status in statuses)
            and (not service_ids or i.service_id in service_ids)
            and (incident_key is None or i.incident_key == incident_key)
        ]
        return [render.incident(self._base(), i, self._store) for i in found]

    def _oncalls(self, query: dict[str, list[str]]) -> list[Body]:
        """Return the on-call entries that GET /oncalls lists.

        Entries exist only through escalation policies, so a schedule that
        no escalation policy uses has none.
        NOTE: modelled on PagerDuty's API reference, which defines an entry
        per escalation policy and level; not checked against a live account.
        """
        policy_ids = _values(query, "escalation_policy_ids")
        schedule_ids = _values(query, "schedule_ids")
        user_ids = _values(query, "user_ids")
        full_users = "users" in _values(query, "include")
        entries: list[Body] = []
        policies: list[EscalationPolicy] = list(self._store.policies.values())
        for policy in policies:
            if policy_ids and policy.id not in policy_ids:
                continue
            for level, person, schedule in self._store.on_call(policy):
                if schedule_ids and (
                    schedule is None or schedule.id not in schedule_ids
                ):
                    continue
                if user_ids and person.id not in user_ids:
                    continue
                entries.append(
                    render.oncall(
                        self._base(),
                        self._store,
                        policy,
                        level,
                        person,
                        schedule,
                        full_users=full_users,
                    )
                )
        return entries


def _json(request: Request) -> Any:
    try:
        return request.json_body()
    except ValueError:
        raise RestError(
            400, "Invalid Input Provided", 2001, ["The request body is not valid JSON"]
        ) from None


def _parse_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return None


def _values(query: dict[str, list[str]], name: str) -> list[str]:
    """Return a list filter, accepting both name[] and name as PagerDuty does."""
    return [*query.get(f"{name}[]", []), *query.get(name, [])]


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None
