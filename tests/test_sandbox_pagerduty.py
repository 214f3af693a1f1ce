"""The PagerDuty sandbox through the real `pagerduty` client, checked against PagerDuty.

Every request goes over HTTPS to 127.0.0.1 and is verified against the CA
bundle the sandbox generates.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pagerduty
import pytest

from incidentbot.pagerduty_api import PagerDuty
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import IMOC_ROUTING_KEY
from tests.pagerduty_world import API_KEY, FROM, World, running_world

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def world() -> Iterator[World]:
    with running_world() as created:
        yield created


def tls_context(world: World) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(world.sandbox.ca_bundle))


def events_client(world: World, routing_key: str) -> pagerduty.EventsApiV2Client:
    return pagerduty.EventsApiV2Client(
        routing_key, base_url=world.sandbox.url, verify=tls_context(world)
    )


def rest_client(
    world: World, *, api_key: str = API_KEY, sender: str | None = FROM
) -> pagerduty.RestApiV2Client:
    return pagerduty.RestApiV2Client(
        api_key,
        default_from=sender,
        base_url=world.sandbox.url,
        verify=tls_context(world),
    )


def raw_post(world: World, path: str, body: Any) -> httpx2.Response:
    with httpx2.Client(verify=tls_context(world)) as client:
        return client.post(f"{world.sandbox.url}{path}", json=body, timeout=5)


def rejected(error: pagerduty.HttpError) -> httpx2.Response:
    """Return the response of a client error, which HttpError always has."""
    response = error.response
    assert isinstance(response, httpx2.Response)
    return response


def trigger_event(routing_key: str, summary: str, dedup_key: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": "incidentbot",
            "severity": "critical",
        },
    }


# Events API v2: dedup_key


def test_repeat_trigger_updates_open_alert(world: World) -> None:
    # A second trigger three minutes later, while the alert is still open.
    client = events_client(world, world.payments_db.routing_key)

    first = client.trigger("Payments DB down", "incidentbot", dedup_key="inc-42:db")
    second = client.trigger("Payments DB down", "incidentbot", dedup_key="inc-42:db")

    incidents = world.sandbox.incidents()
    alerts = world.sandbox.alerts()
    assert first == second == "inc-42:db"
    assert len(incidents) == 1
    assert incidents[0]["incident_key"] == "inc-42:db"
    assert incidents[0]["status"] == "triggered"
    assert [alert["trigger_count"] for alert in alerts] == [2]
    assert [n["user"] for n in world.sandbox.notifications()] == ["Alice Archer"]


def test_trigger_after_resolve_opens_new_incident(world: World) -> None:
    # The responder resolved the incident, so the same key pages again.
    client = events_client(world, world.payments_db.routing_key)
    client.trigger("Payments DB down", "incidentbot", dedup_key="inc-42:db")
    world.sandbox.resolve_incident(world.sandbox.incidents()[0]["id"])

    client.trigger("Payments DB down again", "incidentbot", dedup_key="inc-42:db")

    incidents = world.sandbox.incidents()
    assert [i["status"] for i in incidents] == ["resolved", "triggered"]
    assert [i["incident_number"] for i in incidents] == [1, 2]
    assert [a["status"] for a in world.sandbox.alerts()] == ["resolved", "triggered"]
    assert len(world.sandbox.notifications()) == 2


def test_other_service_gets_own_incident(world: World) -> None:
    events_client(world, world.payments_db.routing_key).trigger(
        "Payments DB down", "incidentbot", dedup_key="inc-42:payments-db"
    )
    events_client(world, world.search_api.routing_key).trigger(
        "Search slow", "incidentbot", dedup_key="inc-42:search-api"
    )

    incidents = world.sandbox.incidents()
    assert [i["service"]["summary"] for i in incidents] == ["payments-db", "search-api"]
    assert [n["user"] for n in world.sandbox.notifications()] == [
        "Alice Archer",
        "Carol Chen",
    ]


def test_same_key_on_other_service_is_separate(world: World) -> None:
    # PagerDuty applies a dedup_key only within the routing key's service.
    events_client(world, world.payments_db.routing_key).trigger(
        "Down", "incidentbot", dedup_key="shared"
    )
    events_client(world, world.search_api.routing_key).trigger(
        "Down", "incidentbot", dedup_key="shared"
    )

    assert len(world.sandbox.incidents()) == 2


def test_acknowledge_and_resolve_by_dedup_key(world: World) -> None:
    client = events_client(world, world.payments_db.routing_key)
    client.trigger("Payments DB down", "incidentbot", dedup_key="inc-42:db")

    client.acknowledge("inc-42:db")
    acknowledged = world.sandbox.incidents()[0]["status"]
    client.trigger("Payments DB down", "incidentbot", dedup_key="inc-42:db")
    still_acknowledged = world.sandbox.incidents()[0]["status"]
    client.resolve("inc-42:db")

    assert acknowledged == "acknowledged"
    assert still_acknowledged == "acknowledged"
    assert world.sandbox.incidents()[0]["status"] == "resolved"
    assert world.sandbox.incidents()[0]["assignments"] == []
    assert len(world.sandbox.notifications()) == 1


def test_resolve_unknown_key_is_dropped(world: World) -> None:
    client = events_client(world, world.payments_db.routing_key)

    confirmed = client.resolve("never-triggered")

    assert confirmed == "never-triggered"
    assert world.sandbox.incidents() == []
    assert world.sandbox.events[-1]["event_action"] == "resolve"


def test_enqueue_response_body(world: World) -> None:
    with_key = raw_post(
        world, "/v2/enqueue", trigger_event(world.payments_db.routing_key, "A", "k-1")
    )
    event = trigger_event(world.payments_db.routing_key, "B", "")
    del event["dedup_key"]
    without_key = raw_post(world, "/v2/enqueue", event)

    assert with_key.status_code == 202
    assert with_key.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "k-1",
    }
    assert without_key.status_code == 202
    generated = without_key.json()["dedup_key"]
    assert len(generated) == 32
    assert world.sandbox.alerts()[1]["dedup_key"] == generated


# Events API v2: refusals


def test_summary_over_limit_rejected(world: World) -> None:
    client = events_client(world, world.payments_db.routing_key)

    client.trigger("x" * 1024, "incidentbot", dedup_key="fits")
    with pytest.raises(pagerduty.HttpError) as raised:
        client.trigger("x" * 1025, "incidentbot", dedup_key="too-long")

    response = rejected(raised.value)
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["'summary' is too long (maiximum is 1024 characters)"],
    }
    assert [a["dedup_key"] for a in world.sandbox.alerts()] == ["fits"]


def test_unknown_routing_key_rejected(world: World) -> None:
    unknown = raw_post(world, "/v2/enqueue", trigger_event("0" * 32, "A", "k"))
    malformed = raw_post(world, "/v2/enqueue", trigger_event("e+23rs_q", "A", "k"))

    assert unknown.status_code == 400
    assert unknown.json()["errors"] == ["Invalid routing key"]
    assert malformed.status_code == 400
    assert malformed.json()["errors"] == [
        "Length of 'routing_key' is incorrect (should be 32 characters)",
        "'routing_key' cannot contain non-alphanumeric characters.",
    ]
    assert world.sandbox.incidents() == []


def test_trigger_without_payload_rejected(world: World) -> None:
    event = trigger_event(world.payments_db.routing_key, "A", "k")
    event["payload"] = {"summary": " ", "severity": "urgent"}

    response = raw_post(world, "/v2/enqueue", event)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'summary' is missing or blank",
        "'source' is missing or blank",
        "'severity' must be one of critical, error, warning or info",
    ]


def test_dedup_key_over_limit_rejected(world: World) -> None:
    event = trigger_event(world.payments_db.routing_key, "A", "k" * 256)

    response = raw_post(world, "/v2/enqueue", event)

    assert response.status_code == 400
    assert response.json()["errors"] == [
        "'dedup_key' is too long (maximum is 255 characters)"
    ]


def test_sandbox_without_services_accepts_events() -> None:
    with PagerDutySandbox() as sandbox:
        url = sandbox.url
        response = httpx2.post(
            f"{url}/v2/enqueue",
            json={"routing_key": "r", "event_action": "trigger", "dedup_key": "k"},
            timeout=5,
        )
        incidents = sandbox.incidents()

    assert url.startswith("http://127.0.0.1:")
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "k"
    assert incidents == []


# Faults


def test_fail_next_answers_429_with_retry_after(world: World) -> None:
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 429, retry_after=7)
    event = trigger_event(world.payments_db.routing_key, "A", "k")

    limited = raw_post(world, "/v2/enqueue", event)
    accepted = raw_post(world, "/v2/enqueue", event)

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json()["status"] == "throttle event"
    assert accepted.status_code == 202
    assert len(world.sandbox.enqueue_attempts) == 2
    assert len(world.sandbox.incidents()) == 1


def test_rest_rate_limit_body(world: World) -> None:
    world.sandbox.fail_next(
        "GET", r"^/services$", 429, headers={"ratelimit-reset": "3"}
    )

    with httpx2.Client(verify=tls_context(world)) as client:
        response = client.get(
            f"{world.sandbox.url}/services",
            headers={"Authorization": f"Token token={API_KEY}"},
            timeout=5,
        )

    assert response.status_code == 429
    assert response.headers["ratelimit-reset"] == "3"
    assert response.json() == {
        "error": {"message": "Rate Limit Exceeded", "code": 2020}
    }


def test_fail_next_cancel(world: World) -> None:
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 503, times=5)
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 503, times=0)

    response = raw_post(
        world, "/v2/enqueue", trigger_event(world.payments_db.routing_key, "A", "k")
    )

    assert response.status_code == 202


# REST API v2


def test_create_incident_requires_from(world: World) -> None:
    client = rest_client(world, sender=None)
    incident = {
        "type": "incident",
        "title": "Checkout down",
        "service": {"id": world.payments_db.id, "type": "service_reference"},
    }

    with pytest.raises(pagerduty.HttpError) as raised:
        client.rpost("incidents", json=incident)

    response = rejected(raised.value)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": 'You must specify a user\'s email address in the "From" '
            "header to perform this action",
            "code": 2016,
        }
    }
    assert world.sandbox.incidents() == []


def test_create_incident_unknown_requester(world: World) -> None:
    client = rest_client(world, sender="nobody@example.com")

    with pytest.raises(pagerduty.HttpError) as raised:
        client.rpost(
            "incidents",
            json={"title": "Down", "service": {"id": world.payments_db.id}},
        )

    assert rejected(raised.value).json()["error"] == {
        "message": "Requester User Not Found",
        "code": 1008,
    }


def test_create_incident_pages_escalation_policy(world: World) -> None:
    client = rest_client(world)

    created = client.rpost(
        "incidents",
        json={
            "type": "incident",
            "title": "Checkout down",
            "service": {"id": world.payments_db.id, "type": "service_reference"},
            "escalation_policy": {
                "id": world.search_policy,
                "type": "escalation_policy_reference",
            },
            "incident_key": "inc-42:liaison",
            "body": {"type": "incident_body", "details": "S1 verified"},
        },
    )

    assert created["title"] == "Checkout down"
    assert created["status"] == "triggered"
    assert created["escalation_policy"]["summary"] == "Search"
    assert [a["assignee"]["summary"] for a in created["assignments"]] == ["Carol Chen"]
    assert created["html_url"].startswith(world.sandbox.url)
    assert world.sandbox.notifications() == [
        {
            "user": "Carol Chen",
            "email": "carol@example.com",
            "incident": created["id"],
            "title": "Checkout down",
        }
    ]


def test_create_incident_duplicate_key_rejected(world: World) -> None:
    client = rest_client(world)
    incident = {
        "title": "Checkout down",
        "service": {"id": world.payments_db.id},
        "incident_key": "inc-42:liaison",
    }
    client.rpost("incidents", json=incident)

    with pytest.raises(pagerduty.HttpError) as raised:
        client.rpost("incidents", json=incident)

    assert rejected(raised.value).status_code == 400
    assert rejected(raised.value).json()["error"]["errors"] == [
        "Open incident with matching dedup key already exists on this service"
    ]
    assert len(world.sandbox.incidents()) == 1


def test_create_incident_validates_fields(world: World) -> None:
    client = rest_client(world)

    with pytest.raises(pagerduty.HttpError) as raised:
        client.rpost("incidents", json={"title": "", "service": {"id": "PNONE00"}})

    assert rejected(raised.value).json() == {
        "error": {
            "message": "Invalid Input Provided",
            "code": 2001,
            "errors": ["Title cannot be empty.", "Service not found"],
        }
    }


def test_list_incidents_filters(world: World) -> None:
    events_client(world, world.payments_db.routing_key).trigger(
        "Payments DB down", "incidentbot", dedup_key="inc-42:payments-db"
    )
    events_client(world, world.search_api.routing_key).trigger(
        "Search slow", "incidentbot", dedup_key="inc-42:search-api"
    )
    world.sandbox.resolve_incident(world.sandbox.incidents()[1]["id"])
    client = rest_client(world)

    open_incidents = client.list_all(
        "incidents", params={"statuses": ["triggered", "acknowledged"]}
    )
    by_key = client.list_all("incidents", params={"incident_key": "inc-42:search-api"})
    by_service = client.list_all(
        "incidents", params={"service_ids": [world.search_api.id]}
    )

    assert [i["incident_key"] for i in open_incidents] == ["inc-42:payments-db"]
    assert [i["status"] for i in by_key] == ["resolved"]
    assert [i["title"] for i in by_service] == ["Search slow"]


def test_list_services_and_policies(world: World) -> None:
    client = rest_client(world)

    services = client.list_all("services")
    policies = client.list_all("escalation_policies")
    users = client.list_all("users")
    fetched = client.rget(f"services/{world.payments_db.id}")

    assert [(s["name"], s["escalation_policy"]["summary"]) for s in services] == [
        ("payments-db", "Databases"),
        ("search-api", "Search"),
    ]
    assert world.payments_db.routing_key not in str(services)
    assert [p["name"] for p in policies] == ["Databases", "Search"]
    assert [
        [t["summary"] for t in rule["targets"]]
        for rule in policies[0]["escalation_rules"]
    ] == [["Database primary"], ["Bob Baker"]]
    assert [u["email"] for u in users] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    assert fetched["id"] == world.payments_db.id


def test_pagination_reads_every_page(world: World) -> None:
    for number in range(30):
        world.sandbox.add_user(f"Person {number:02d}", f"p{number}@example.com")
    client = rest_client(world)

    first_page = client.jget("users", params={"limit": 25, "offset": 0})
    everyone = client.list_all("users", page_size=10)

    assert len(first_page["users"]) == 25
    assert first_page["more"] is True
    assert len(everyone) == 33


def test_unknown_resource_not_found(world: World) -> None:
    client = rest_client(world)

    response = client.get("services/PNONE00")

    assert response.status_code == 404
    assert response.json() == {"error": {"message": "Not Found", "code": 2100}}


def test_oncalls_for_escalation_policy(world: World) -> None:
    client = rest_client(world)

    entries = client.list_all(
        "oncalls",
        params={
            "escalation_policy_ids": [world.databases_policy],
            "include": ["users"],
        },
    )

    assert [
        (
            e["escalation_level"],
            e["user"]["email"],
            (e["schedule"] or {}).get("summary"),
        )
        for e in entries
    ] == [
        (1, "alice@example.com", "Database primary"),
        (2, "bob@example.com", None),
    ]
    assert entries[0]["start"] is not None
    assert entries[1]["end"] is None


def test_oncalls_follow_schedule_changes(world: World) -> None:
    client = rest_client(world)
    world.sandbox.set_on_call(world.database_schedule, world.carol)
    handed_over = client.list_all(
        "oncalls", params={"schedule_ids": [world.database_schedule]}
    )
    world.sandbox.set_on_call(world.database_schedule, None)
    gap = client.list_all("oncalls", params={"schedule_ids": [world.database_schedule]})
    unused = client.list_all(
        "oncalls", params={"schedule_ids": [world.unused_schedule]}
    )

    assert [e["user"]["summary"] for e in handed_over] == ["Carol Chen"]
    assert gap == []
    assert unused == []


def test_gap_in_first_level_pages_second(world: World) -> None:
    world.sandbox.set_on_call(world.database_schedule, None)

    events_client(world, world.payments_db.routing_key).trigger(
        "Payments DB down", "incidentbot", dedup_key="k"
    )

    assert [n["user"] for n in world.sandbox.notifications()] == ["Bob Baker"]


def test_wrong_api_key_unauthorized(world: World) -> None:
    client = rest_client(world, api_key="wrong-key")

    with pytest.raises(pagerduty.HttpError) as raised:
        client.list_all("services")

    assert rejected(raised.value).status_code == 401
    assert rejected(raised.value).json() == {
        "error": {"message": "Authentication failed", "code": 2006}
    }


# Setup with fixed ids


def test_fixed_ids_served(world: World) -> None:
    sandbox = world.sandbox
    user = sandbox.add_user("Dana Diaz", "dana@example.com", id="PUDANA1")
    schedule = sandbox.add_schedule("IMOC rotation", user, id="PSIMOC1")
    policy = sandbox.add_escalation_policy("IMOC", [[schedule]], id="PEIMOC1")
    service = sandbox.add_service("Incident Manager On Call", policy, id="PVIMOC1")
    client = rest_client(world)

    fetched = client.rget("services/PVIMOC1")
    entries = client.list_all("oncalls", params={"schedule_ids": ["PSIMOC1"]})

    assert (user, schedule, policy, service.id) == (
        "PUDANA1",
        "PSIMOC1",
        "PEIMOC1",
        "PVIMOC1",
    )
    assert fetched["escalation_policy"]["id"] == "PEIMOC1"
    assert [(e["user"]["id"], e["schedule"]["id"]) for e in entries] == [
        ("PUDANA1", "PSIMOC1")
    ]


def test_duplicate_fixed_id_rejected(world: World) -> None:
    sandbox = world.sandbox
    sandbox.add_user("Dana Diaz", "dana@example.com", id="PUDANA1")

    with pytest.raises(ValueError, match="id 'PUDANA1' is already used"):
        sandbox.add_user("Dana Doe", "dana.doe@example.com", id="PUDANA1")
    # Escalation levels name users and schedules by id alone, so a schedule
    # cannot share a user's id either.
    with pytest.raises(ValueError, match="id 'PUDANA1' is already used"):
        sandbox.add_schedule("IMOC rotation", id="PUDANA1")
    with pytest.raises(ValueError, match=f"id '{world.databases_policy}'"):
        sandbox.add_escalation_policy(
            "IMOC", [[world.alice]], id=world.databases_policy
        )
    with pytest.raises(ValueError, match=f"id '{world.payments_db.id}'"):
        sandbox.add_service("checkout", world.search_policy, id=world.payments_db.id)


def test_fixed_id_with_taken_email_rejected(world: World) -> None:
    with pytest.raises(ValueError) as raised:
        world.sandbox.add_user("Alice Again", "ALICE@example.com", id="PUALICE")

    assert str(raised.value) == (
        f"email 'ALICE@example.com' already belongs to user {world.alice}, so "
        "user 'PUALICE' cannot have it. Use another email."
    )


def test_malformed_fixed_id_rejected(world: World) -> None:
    for bad in ("pualice", "PU/ALICE", ""):
        with pytest.raises(ValueError, match="invalid id"):
            world.sandbox.add_user("Dana Diaz", "dana@example.com", id=bad)


def test_generated_id_skips_fixed_one() -> None:
    sandbox = PagerDutySandbox()
    fixed = sandbox.add_user("Alice Archer", "alice@example.com", id="P000001")

    generated = sandbox.add_user("Bob Baker", "bob@example.com")

    assert fixed == "P000001"
    assert generated == "P000002"


# TLS


def test_client_without_ca_bundle_fails(world: World) -> None:
    client = pagerduty.RestApiV2Client(API_KEY, base_url=world.sandbox.url)
    client.max_network_attempts = 0

    with pytest.raises(pagerduty.Error) as raised:
        client.list_all("services")

    assert isinstance(raised.value.__cause__, httpx2.ConnectError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value.__cause__)
    assert world.sandbox.requests == []


def test_ca_bundle_removed_on_stop() -> None:
    sandbox = PagerDutySandbox(tls=True)
    sandbox.start()
    bundle = sandbox.ca_bundle
    url = sandbox.url
    sandbox.stop()

    assert url.startswith("https://127.0.0.1:")
    assert bundle is not None
    assert bundle.name == "ca.pem"
    assert not bundle.exists()
    assert sandbox.ca_bundle is None


def test_command_line_serves_https_by_default(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--env-file", str(env_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not env_file.exists():
            assert process.poll() is None, "python -m sandbox exited early"
            assert time.monotonic() < deadline, "python -m sandbox did not start"
            time.sleep(0.05)
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        adapter = PagerDuty(
            events_url=values["PAGERDUTY_EVENTS_URL"],
            api_url=values["PAGERDUTY_API_URL"],
            api_key=values["PAGERDUTY_API_KEY"],
            from_email=values["PAGERDUTY_FROM"],
            ca_bundle=values["PAGERDUTY_CA_BUNDLE"],
            timeout=5,
        )
        with adapter:
            services = adapter.services()
            confirmed = adapter.trigger(
                IMOC_ROUTING_KEY, "inc-1:imoc", "Checkout down", source="incidentbot"
            )
            paged = adapter.find_incidents(incident_key="inc-1:imoc")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)

    assert values["PAGERDUTY_API_URL"].startswith("https://127.0.0.1:")
    assert values["PAGERDUTY_EVENTS_URL"] == values["PAGERDUTY_API_URL"]
    assert values["PAGERDUTY_API_KEY"] == "sandbox-pagerduty-key"
    assert values["PAGERDUTY_FROM"] == "incidentbot@example.com"
    assert len(services) == 5
    assert confirmed == "inc-1:imoc"
    assert [i.assignees for i in paged] == [("Dana Diaz",)]
    assert not Path(values["PAGERDUTY_CA_BUNDLE"]).exists()
    assert process.returncode == 0, stderr
