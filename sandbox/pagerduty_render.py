"""REST API v2 JSON shapes of the PagerDuty sandbox's records.

Each record is rendered as PagerDuty renders it: a full object with "type",
"summary", "self" and "html_url", and references to other records as
{"id", "type": "<kind>_reference", "summary", "self", "html_url"}. URLs
point at the sandbox itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.pagerduty_store import (
    EscalationPolicy,
    Incident,
    RestError,
    Schedule,
    Service,
    Store,
    User,
)

Body = dict[str, Any]
# PagerDuty's default and largest page size for classic pagination.
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _links(base: str, collection: str, record_id: str) -> Body:
    url = f"{base}/{collection}/{record_id}"
    return {"self": url, "html_url": url}


def reference(base: str, kind: str, record_id: str, summary: str) -> Body:
    collection = "escalation_policies" if kind == "escalation_policy" else f"{kind}s"
    return {
        "id": record_id,
        "type": f"{kind}_reference",
        "summary": summary,
        **_links(base, collection, record_id),
    }


def user(base: str, record: User) -> Body:
    return {
        "id": record.id,
        "type": "user",
        "summary": record.name,
        "name": record.name,
        "email": record.email,
        **_links(base, "users", record.id),
    }


def user_reference(base: str, record: User) -> Body:
    return reference(base, "user", record.id, record.name)


def schedule(base: str, record: Schedule) -> Body:
    return {
        "id": record.id,
        "type": "schedule",
        "summary": record.name,
        "name": record.name,
        "time_zone": "UTC",
        **_links(base, "schedules", record.id),
    }


def policy(base: str, record: EscalationPolicy, store: Store) -> Body:
    rules = []
    for level, targets in enumerate(record.levels, start=1):
        rendered = []
        for target in targets:
            if target in store.users:
                rendered.append(user_reference(base, store.users[target]))
            else:
                found = store.schedules[target]
                rendered.append(reference(base, "schedule", found.id, found.name))
        rules.append(
            {
                "id": f"{record.id}-R{level}",
                "escalation_delay_in_minutes": 30,
                "targets": rendered,
            }
        )
    services = [
        reference(base, "service", s.id, s.name)
        for s in store.services.values()
        if s.escalation_policy_id == record.id
    ]
    return {
        "id": record.id,
        "type": "escalation_policy",
        "summary": record.name,
        "name": record.name,
        "num_loops": 0,
        "escalation_rules": rules,
        "services": services,
        **_links(base, "escalation_policies", record.id),
    }


def service(base: str, record: Service, store: Store) -> Body:
    chosen = store.policies[record.escalation_policy_id]
    # PagerDuty lists integrations by reference only. The routing key is
    # shown on the integration itself, which the sandbox does not serve.
    return {
        "id": record.id,
        "type": "service",
        "summary": record.name,
        "name": record.name,
        "description": "",
        "status": "active",
        "escalation_policy": reference(
            base, "escalation_policy", chosen.id, chosen.name
        ),
        "integrations": [
            {
                "id": f"{record.id}-I1",
                "type": "events_api_v2_inbound_integration_reference",
                "summary": "Events API v2",
            }
        ],
        **_links(base, "services", record.id),
    }


def incident(base: str, record: Incident, store: Store) -> Body:
    owner = store.services[record.service_id]
    chosen = store.policies[record.escalation_policy_id]
    assignments = [
        {"at": record.created_at, "assignee": user_reference(base, store.users[u])}
        for u in record.assignees
    ]
    return {
        "id": record.id,
        "type": "incident",
        "summary": f"[#{record.number}] {record.title}",
        "incident_number": record.number,
        "title": record.title,
        "status": record.status,
        "urgency": record.urgency,
        "incident_key": record.incident_key,
        "created_at": record.created_at,
        "service": reference(base, "service", owner.id, owner.name),
        "escalation_policy": reference(
            base, "escalation_policy", chosen.id, chosen.name
        ),
        "assignments": assignments if record.status != "resolved" else [],
        **_links(base, "incidents", record.id),
    }


def oncall(
    base: str,
    store: Store,
    record: EscalationPolicy,
    level: int,
    person: User,
    found: Schedule | None,
    *,
    full_users: bool,
) -> Body:
    return {
        "escalation_policy": reference(
            base, "escalation_policy", record.id, record.name
        ),
        "escalation_level": level,
        "schedule": (
            reference(base, "schedule", found.id, found.name) if found else None
        ),
        "user": user(base, person) if full_users else user_reference(base, person),
        # A user named directly in an escalation rule is always on call, and
        # PagerDuty gives no start or end for that.
        "start": found.shift_start if found else None,
        "end": found.shift_end if found else None,
    }


def page(wrapper: str, items: Sequence[Body], query: dict[str, list[str]]) -> Body:
    """Return one page of items in PagerDuty's classic pagination envelope.

    Raises RestError (400) for a limit or offset that is not a whole number.
    """
    limit = _whole_number(query, "limit", DEFAULT_LIMIT)
    offset = _whole_number(query, "offset", 0)
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    chosen = list(items[offset : offset + limit])
    # PagerDuty counts the total only when asked, since it costs a query.
    total = len(items) if _last(query, "total") == "true" else None
    return {
        wrapper: chosen,
        "limit": limit,
        "offset": offset,
        "more": offset + len(chosen) < len(items),
        "total": total,
    }


def _whole_number(query: dict[str, list[str]], name: str, default: int) -> int:
    text = _last(query, name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise RestError(
            400, "Invalid Input Provided", 2001, [f"{name} must be a whole number"]
        )
    return int(text)


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None
