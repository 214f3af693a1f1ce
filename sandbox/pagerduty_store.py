"""State of the PagerDuty sandbox and the rules that change it.

Users, schedules, escalation policies and services are set up by tests
and by sandbox/pagerduty_demo.py, with generated or fixed ids.
Events API v2 events and REST requests create alerts and incidents by the
rules PagerDuty documents for the Events API v2 ("Alert De-Duplication" and
"Event Action Behavior") and the Incident Creation API. Methods return
(status, body) pairs, and the HTTP layer in sandbox/pagerduty.py sends them.

Error texts: "'summary' is too long (maiximum is 1024 characters)", with
PagerDuty's own typo, and the two routing key length and character messages
are the Events API's responses as quoted in public bug reports (2020-2024),
as is the From header message of the REST API. The other texts follow the
same patterns or PagerDuty's documented REST error codes.
"""

from __future__ import annotations

import datetime
import itertools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SUMMARY_MAX = 1024
TITLE_MAX = 1024
DEDUP_KEY_MAX = 255
ROUTING_KEY_LENGTH = 32
SEVERITIES = ("critical", "error", "warning", "info")
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
OPEN_STATUSES = ("triggered", "acknowledged")
INCIDENT_STATUSES = ("triggered", "acknowledged", "resolved")
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]*")
_RECORD_ID = re.compile(r"[A-Z0-9]+")

Body = dict[str, Any]


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RestError(Exception):
    """A REST API v2 error response: status and {"error": {...}} body."""

    def __init__(
        self, status: int, message: str, code: int, errors: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        error: Body = {"message": message, "code": code}
        if errors:
            error["errors"] = list(errors)
        self.body: Body = {"error": error}


def invalid_event(errors: Sequence[str]) -> Body:
    """Return the Events API v2 body of a 400 response."""
    return {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": list(errors),
    }


@dataclass
class User:
    id: str
    name: str
    email: str


@dataclass
class Schedule:
    id: str
    name: str
    # The user on call now, or None for a gap in the schedule.
    on_call: str | None
    shift_start: str
    shift_end: str


@dataclass
class EscalationPolicy:
    id: str
    name: str
    # One list of user or schedule ids for each escalation level, first
    # level first.
    levels: list[list[str]]


@dataclass
class Service:
    id: str
    name: str
    escalation_policy_id: str
    routing_key: str


@dataclass
class Alert:
    id: str
    service_id: str
    dedup_key: str
    summary: str
    severity: str
    source: str
    custom_details: Any
    incident_id: str
    created_at: str
    status: str = "triggered"
    # Triggers applied to this alert, the first one included.
    trigger_count: int = 1


@dataclass
class Incident:
    id: str
    number: int
    title: str
    service_id: str
    escalation_policy_id: str
    incident_key: str
    urgency: str
    created_at: str
    assignees: list[str]
    details: str = ""
    status: str = "triggered"
    # The From address of the REST request that created it, or None for an
    # incident created by an event.
    created_by: str | None = None
    alert_ids: list[str] = field(default_factory=list)


class Store:
    """Every record of the sandbox. Callers hold the sandbox's lock."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.schedules: dict[str, Schedule] = {}
        self.policies: dict[str, EscalationPolicy] = {}
        self.services: dict[str, Service] = {}
        self.alerts: dict[str, Alert] = {}
        self.incidents: dict[str, Incident] = {}
        # Raw events as received, in order, valid or not.
        self.events: list[Body] = []
        # One entry for each person paged: {"user", "email", "incident", "title"}.
        self.notifications: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._numbers = itertools.count(1)

    def new_id(self) -> str:
        # PagerDuty ids are seven upper-case letters and digits, often
        # starting with P. A fixed id given at setup may take a number of
        # the sequence, which is then skipped.
        while True:
            candidate = f"P{next(self._ids):06d}"
            if not self._id_in_use(candidate):
                return candidate

    def _id_in_use(self, record_id: str) -> bool:
        tables: tuple[dict[str, Any], ...] = (
            self.users,
            self.schedules,
            self.policies,
            self.services,
            self.alerts,
            self.incidents,
        )
        return any(record_id in table for table in tables)

    def _claim_id(self, record_id: str | None) -> str:
        """Return record_id checked as a new id, or a generated id for None.

        Ids are unique across all records, not per type as on PagerDuty,
        because escalation levels name users and schedules by id alone.
        Raises ValueError for an id that is malformed or already used.
        """
        if record_id is None:
            return self.new_id()
        if not _RECORD_ID.fullmatch(record_id):
            raise ValueError(
                f"invalid id {record_id!r}: use upper-case letters and digits, "
                "as PagerDuty ids such as PUALICE do"
            )
        if self._id_in_use(record_id):
            raise ValueError(
                f"id {record_id!r} is already used by another sandbox record. "
                "Choose another id."
            )
        return record_id

    # Setup

    def add_user(self, name: str, email: str, *, id: str | None = None) -> User:
        """Create a user, or without id return the user who has this email.

        Raises ValueError when id is given and the email belongs to another
        user, or when the id is malformed or already used.
        """
        fixed_id = self._claim_id(id) if id is not None else None
        for user in self.users.values():
            if user.email.lower() != email.lower():
                continue
            if fixed_id is None:
                return user
            raise ValueError(
                f"email {email!r} already belongs to user {user.id}, so user "
                f"{fixed_id!r} cannot have it. Use another email."
            )
        user = User(fixed_id or self.new_id(), name, email)
        self.users[user.id] = user
        return user

    def add_schedule(
        self, name: str, on_call: str | None, *, id: str | None = None
    ) -> Schedule:
        if on_call is not None:
            self._require(self.users, on_call, "user")
        schedule_id = self._claim_id(id)
        start = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        schedule = Schedule(
            schedule_id,
            name,
            on_call,
            start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            (start + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self.schedules[schedule.id] = schedule
        return schedule

    def add_policy(
        self, name: str, levels: Sequence[Sequence[str]], *, id: str | None = None
    ) -> EscalationPolicy:
        if not levels or any(not targets for targets in levels):
            raise ValueError("every escalation level needs at least one target")
        for targets in levels:
            for target in targets:
                if target not in self.users and target not in self.schedules:
                    raise KeyError(f"no user or schedule {target!r} in the sandbox")
        policy = EscalationPolicy(self._claim_id(id), name, [list(t) for t in levels])
        self.policies[policy.id] = policy
        return policy

    def add_service(
        self,
        name: str,
        policy_id: str,
        routing_key: str | None = None,
        *,
        id: str | None = None,
    ) -> Service:
        self._require(self.policies, policy_id, "escalation policy")
        key = routing_key if routing_key is not None else uuid.uuid4().hex
        if len(key) != ROUTING_KEY_LENGTH or not _ALPHANUMERIC.fullmatch(key):
            raise ValueError(
                f"routing key {key!r} is not {ROUTING_KEY_LENGTH} letters and digits"
            )
        if self.service_by_routing_key(key) is not None:
            raise ValueError(f"routing key {key!r} is already used by another service")
        service = Service(self._claim_id(id), name, policy_id, key)
        self.services[service.id] = service
        return service

    @staticmethod
    def _require(table: dict[str, Any], key: str, kind: str) -> Any:
        if key not in table:
            raise KeyError(f"no {kind} {key!r} in the sandbox")
        return table[key]

    def service_by_routing_key(self, key: str) -> Service | None:
        for service in self.services.values():
            if service.routing_key == key:
                return service
        return None

    # On call

    def on_call(
        self, policy: EscalationPolicy
    ) -> list[tuple[int, User, Schedule | None]]:
        """Return (escalation level, user, schedule or None) for everyone on call."""
        entries: list[tuple[int, User, Schedule | None]] = []
        for level, targets in enumerate(policy.levels, start=1):
            for target in targets:
                if target in self.users:
                    entries.append((level, self.users[target], None))
                    continue
                schedule = self.schedules[target]
                if schedule.on_call is not None:
                    entries.append((level, self.users[schedule.on_call], schedule))
        return entries

    def _first_responders(self, policy: EscalationPolicy) -> list[str]:
        """Return the users of the first level that has anyone on call."""
        entries = self.on_call(policy)
        if not entries:
            return []
        first = min(level for level, _, _ in entries)
        users: list[str] = []
        for level, user, _ in entries:
            if level == first and user.id not in users:
                users.append(user.id)
        return users

    # Incidents

    def _open_incident(
        self,
        *,
        title: str,
        service: Service,
        policy: EscalationPolicy,
        incident_key: str,
        urgency: str,
        details: str = "",
        created_by: str | None = None,
    ) -> Incident:
        incident = Incident(
            id=self.new_id(),
            number=next(self._numbers),
            title=title,
            service_id=service.id,
            escalation_policy_id=policy.id,
            incident_key=incident_key,
            urgency=urgency,
            created_at=now_iso(),
            assignees=self._first_responders(policy),
            details=details,
            created_by=created_by,
        )
        self.incidents[incident.id] = incident
        for user_id in incident.assignees:
            user = self.users[user_id]
            self.notifications.append(
                {
                    "user": user.name,
                    "email": user.email,
                    "incident": incident.id,
                    "title": title,
                }
            )
        return incident

    def set_incident_status(self, incident_id: str, status: str) -> Incident:
        """Change an incident as a responder would in the web app."""
        if status not in INCIDENT_STATUSES:
            raise ValueError(
                f"status must be one of {INCIDENT_STATUSES}, not {status!r}"
            )
        incident = self.incidents.get(incident_id)
        if incident is None:
            raise KeyError(f"no incident {incident_id!r} in the sandbox")
        incident.status = status
        if status == "resolved":
            for alert_id in incident.alert_ids:
                self.alerts[alert_id].status = "resolved"
        return incident

    # Events API v2

    def enqueue(self, event: Any) -> tuple[int, Body]:
        """Apply one Events API v2 event and return the response."""
        if not isinstance(event, dict):
            return 400, invalid_event(["The request body is not a JSON object"])
        self.events.append(event)
        if not self.services:
            # Without services the sandbox is a sink that accepts and only
            # records every event, so that an empty sandbox still responds
            # to tools that just need the endpoint to work.
            return 202, _accepted(str(event.get("dedup_key") or uuid.uuid4().hex))
        errors = self._event_errors(event)
        if errors:
            return 400, invalid_event(errors)
        service = self.service_by_routing_key(str(event["routing_key"]))
        if service is None:
            return 400, invalid_event(["Invalid routing key"])
        action = event["event_action"]
        dedup_key = str(event.get("dedup_key") or uuid.uuid4().hex)
        alert = self._open_alert(service, dedup_key)
        if action == "trigger":
            if alert is not None:
                # A trigger log entry on the open alert, and no one is paged again.
                alert.trigger_count += 1
            else:
                self._new_alert(service, dedup_key, event["payload"])
        elif alert is not None:
            incident = self.incidents[alert.incident_id]
            if action == "acknowledge" and incident.status == "triggered":
                incident.status = "acknowledged"
            elif action == "resolve":
                alert.status = "resolved"
                if all(self.alerts[a].status == "resolved" for a in incident.alert_ids):
                    incident.status = "resolved"
        # An acknowledge or resolve without an open alert is dropped, and
        # PagerDuty still returns 202 because it processes events later.
        return 202, _accepted(dedup_key)

    def _event_errors(self, event: Body) -> list[str]:
        errors: list[str] = []
        routing_key = event.get("routing_key")
        if not isinstance(routing_key, str) or not routing_key.strip():
            errors.append("'routing_key' is missing or blank")
        else:
            if len(routing_key) != ROUTING_KEY_LENGTH:
                errors.append(
                    "Length of 'routing_key' is incorrect (should be "
                    f"{ROUTING_KEY_LENGTH} characters)"
                )
            if not _ALPHANUMERIC.fullmatch(routing_key):
                errors.append(
                    "'routing_key' cannot contain non-alphanumeric characters."
                )
        action = event.get("event_action")
        if action not in EVENT_ACTIONS:
            errors.append(
                "'event_action' must be one of trigger, acknowledge or resolve"
            )
        dedup_key = event.get("dedup_key")
        if dedup_key is not None and not isinstance(dedup_key, str):
            errors.append("'dedup_key' must be a string")
        elif isinstance(dedup_key, str) and len(dedup_key) > DEDUP_KEY_MAX:
            errors.append(
                f"'dedup_key' is too long (maximum is {DEDUP_KEY_MAX} characters)"
            )
        elif action in ("acknowledge", "resolve") and not dedup_key:
            errors.append("'dedup_key' is missing or blank")
        if action == "trigger":
            errors += _payload_errors(event.get("payload"))
        return errors

    def _open_alert(self, service: Service, dedup_key: str) -> Alert | None:
        for alert in self.alerts.values():
            if (
                alert.service_id == service.id
                and alert.dedup_key == dedup_key
                and alert.status == "triggered"
            ):
                return alert
        return None

    def _new_alert(self, service: Service, dedup_key: str, payload: Body) -> Alert:
        policy = self.policies[service.escalation_policy_id]
        severity = str(payload["severity"])
        incident = self._open_incident(
            title=str(payload["summary"]),
            service=service,
            policy=policy,
            incident_key=dedup_key,
            # PagerDuty's default for a service with severity-based urgency.
            urgency="high" if severity in ("critical", "error") else "low",
        )
        alert = Alert(
            id=self.new_id(),
            service_id=service.id,
            dedup_key=dedup_key,
            summary=str(payload["summary"]),
            severity=severity,
            source=str(payload["source"]),
            custom_details=payload.get("custom_details"),
            incident_id=incident.id,
            created_at=incident.created_at,
        )
        self.alerts[alert.id] = alert
        incident.alert_ids.append(alert.id)
        return alert

    # REST API: incident creation

    def create_incident(self, data: Any, requester: str | None) -> Incident:
        """Apply POST /incidents, where requester is the From header or None.

        Raises RestError with PagerDuty's status and body for a bad request.
        """
        if not requester:
            raise RestError(
                400,
                'You must specify a user\'s email address in the "From" header '
                "to perform this action",
                2016,
            )
        if not any(u.email.lower() == requester.lower() for u in self.users.values()):
            raise RestError(400, "Requester User Not Found", 1008)
        fields = data.get("incident") if isinstance(data, dict) else None
        if not isinstance(fields, dict):
            raise RestError(
                400, "Invalid Input Provided", 2001, ["incident must be an object"]
            )
        title = fields.get("title")
        errors: list[str] = []
        if not isinstance(title, str) or not title.strip():
            errors.append("Title cannot be empty.")
        elif len(title) > TITLE_MAX:
            errors.append(f"Title is too long (maximum is {TITLE_MAX} characters)")
        service = self.services.get(str(_reference_id(fields.get("service"))))
        if service is None:
            errors.append("Service not found")
        urgency = fields.get("urgency", "high")
        if urgency not in ("high", "low"):
            errors.append("Urgency must be high or low")
        if errors or service is None or not isinstance(title, str):
            raise RestError(400, "Invalid Input Provided", 2001, errors)
        policy_id = _reference_id(fields.get("escalation_policy"))
        policy = self.policies.get(policy_id or service.escalation_policy_id)
        if policy is None:
            raise RestError(400, "Escalation Policy Not Found", 1014)
        incident_key = str(fields.get("incident_key") or uuid.uuid4().hex)
        for incident in self.incidents.values():
            if (
                incident.service_id == service.id
                and incident.incident_key == incident_key
                and incident.status in OPEN_STATUSES
            ):
                raise RestError(
                    400,
                    "Invalid Input Provided",
                    2001,
                    [
                        "Open incident with matching dedup key already exists "
                        "on this service"
                    ],
                )
        body = fields.get("body")
        details = body.get("details") if isinstance(body, dict) else None
        return self._open_incident(
            title=title,
            service=service,
            policy=policy,
            incident_key=incident_key,
            urgency=str(urgency),
            details=str(details or ""),
            created_by=requester,
        )


def _reference_id(reference: Any) -> str:
    """Return the id of a {"id": ..., "type": ...} reference, or ""."""
    if isinstance(reference, dict) and reference.get("id"):
        return str(reference["id"])
    return ""


def _accepted(dedup_key: str) -> Body:
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def _payload_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or is not an object"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        errors.append("'summary' is missing or blank")
    elif len(summary) > SUMMARY_MAX:
        # PagerDuty's text, typo included.
        errors.append(f"'summary' is too long (maiximum is {SUMMARY_MAX} characters)")
    source = payload.get("source")
    if not isinstance(source, str) or not source.strip():
        errors.append("'source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'severity' must be one of critical, error, warning or info")
    return errors
