"""The demo PagerDuty account of `python -m sandbox`, read through the bot's adapter.

Each test serves the account over HTTPS with a required API key, as
`python -m sandbox` does, and talks to it with incidentbot.pagerduty_api.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from incidentbot.pagerduty_api import PagerDuty, PagerDutyError
from sandbox import pagerduty_demo as demo
from sandbox.pagerduty import PagerDutySandbox


@pytest.fixture
def sandbox() -> Iterator[PagerDutySandbox]:
    served = PagerDutySandbox(tls=True, api_key=demo.API_KEY)
    demo.add_demo_account(served)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def adapter(sandbox: PagerDutySandbox, *, api_key: str = demo.API_KEY) -> PagerDuty:
    return PagerDuty(
        events_url=sandbox.url,
        api_url=sandbox.url,
        api_key=api_key,
        from_email=demo.FROM_EMAIL,
        ca_bundle=sandbox.ca_bundle,
        timeout=5,
        max_retries=0,
    )


def test_demo_services_and_policies(sandbox: PagerDutySandbox) -> None:
    with adapter(sandbox) as pagerduty:
        services = pagerduty.services()

    by_id = {service.id: service for service in services}

    assert sorted((s.id, s.name) for s in services) == [
        ("PVCMOC1", "Communications Manager On Call"),
        ("PVEOC01", "Engineer On Call"),
        ("PVIMOC1", "Incident Manager On Call"),
        ("PVLEAD1", "dotcom leadership escalation"),
        ("PVLIAS1", "Infrastructure Liaison"),
    ]
    assert {
        service_id: (s.escalation_policy_id, s.escalation_policy_name)
        for service_id, s in by_id.items()
    } == {
        "PVCMOC1": ("PECMOC1", "Communications manager"),
        "PVEOC01": ("PEEOC01", "Engineer on call"),
        "PVIMOC1": ("PEIMOC1", "IMOC"),
        "PVLEAD1": ("PELEAD1", "dotcom leadership escalation"),
        "PVLIAS1": ("PELIAS1", "Infrastructure Liaison"),
    }


@pytest.mark.parametrize(
    ("schedule_id", "person", "email"),
    [
        ("PSIMOC1", "Dana Diaz", "dana@example.com"),
        ("PSEOC01", "Bob Baker", "bob@example.com"),
        ("PSCMOC1", "Erin Evans", "erin@example.com"),
    ],
)
def test_demo_schedule_on_call(
    sandbox: PagerDutySandbox, schedule_id: str, person: str, email: str
) -> None:
    with adapter(sandbox) as pagerduty:
        entries = pagerduty.on_call(schedule_id=schedule_id)

    assert [(e.user_name, e.user_email) for e in entries] == [(person, email)]
    assert [e.schedule_id for e in entries] == [schedule_id]


@pytest.mark.parametrize(
    ("policy_id", "user_id", "person", "schedule_id"),
    [
        ("PEIMOC1", "PUDANA1", "Dana Diaz", "PSIMOC1"),
        ("PEEOC01", "PUBOB01", "Bob Baker", "PSEOC01"),
        ("PECMOC1", "PUERIN1", "Erin Evans", "PSCMOC1"),
        ("PELIAS1", "PUCAROL", "Carol Chen", None),
        ("PELEAD1", "PUFRANK", "Frank Fox", None),
    ],
)
def test_demo_policy_on_call(
    sandbox: PagerDutySandbox,
    policy_id: str,
    user_id: str,
    person: str,
    schedule_id: str | None,
) -> None:
    with adapter(sandbox) as pagerduty:
        entries = pagerduty.on_call(escalation_policy_id=policy_id)

    assert [(e.escalation_level, e.user_id, e.user_name) for e in entries] == [
        (1, user_id, person)
    ]
    assert [e.schedule_id for e in entries] == [schedule_id]
    assert [e.escalation_policy_id for e in entries] == [policy_id]


@pytest.mark.parametrize(
    ("routing_key", "service_id", "person"),
    [
        ("sandboximocroutingkey00000000000", "PVIMOC1", "Dana Diaz"),
        ("sandboxcmocroutingkey00000000000", "PVCMOC1", "Erin Evans"),
        ("sandboxeocroutingkey000000000000", "PVEOC01", "Bob Baker"),
        ("sandboxliaisonroutingkey00000000", "PVLIAS1", "Carol Chen"),
    ],
)
def test_demo_trigger_opens_incident(
    sandbox: PagerDutySandbox, routing_key: str, service_id: str, person: str
) -> None:
    with adapter(sandbox) as pagerduty:
        confirmed = pagerduty.trigger(
            routing_key,
            "infra/production#1:page",
            "Checkout errors",
            source="incidentbot",
        )
        found = pagerduty.find_incidents(incident_key="infra/production#1:page")

    assert confirmed == "infra/production#1:page"
    assert [(i.service_id, i.title, i.status) for i in found] == [
        (service_id, "Checkout errors", "triggered")
    ]
    assert [i.assignees for i in found] == [(person,)]
    assert [n["user"] for n in sandbox.notifications()] == [person]


def test_demo_leadership_incident_from_bot(sandbox: PagerDutySandbox) -> None:
    with adapter(sandbox) as pagerduty:
        created = pagerduty.create_incident(
            "PVLEAD1",
            "S1 incident infra/production#1: Checkout errors",
            "infra/production#1:leadership",
        )

    assert created.service_id == "PVLEAD1"
    assert created.status == "triggered"
    assert created.assignees == ("Frank Fox",)
    assert [(n["user"], n["email"]) for n in sandbox.notifications()] == [
        ("Frank Fox", "frank@example.com")
    ]


def test_demo_rest_needs_api_key(sandbox: PagerDutySandbox) -> None:
    with (
        adapter(sandbox, api_key="wrong-key") as pagerduty,
        pytest.raises(PagerDutyError) as raised,
    ):
        pagerduty.services()

    assert raised.value.status == 401


def test_demo_constants_are_fixed() -> None:
    # A settings file names these values, so a change here breaks it.
    assert demo.API_KEY == "sandbox-pagerduty-key"
    assert demo.FROM_EMAIL == "incidentbot@example.com"
    assert demo.BOT_USER_ID == "PUBOT01"
    assert demo.IMOC_SCHEDULE_ID == "PSIMOC1"
    assert demo.IMOC_POLICY_ID == "PEIMOC1"
    assert demo.IMOC_SERVICE_ID == "PVIMOC1"
    assert demo.IMOC_ROUTING_KEY == "sandboximocroutingkey00000000000"
    assert demo.CMOC_SERVICE_ID == "PVCMOC1"
    assert demo.CMOC_ROUTING_KEY == "sandboxcmocroutingkey00000000000"
    assert demo.EOC_SERVICE_ID == "PVEOC01"
    assert demo.EOC_ROUTING_KEY == "sandboxeocroutingkey000000000000"
    assert demo.LIAISON_SERVICE_ID == "PVLIAS1"
    assert demo.LIAISON_ROUTING_KEY == "sandboxliaisonroutingkey00000000"
    assert demo.LEADERSHIP_SERVICE_ID == "PVLEAD1"
    assert demo.LEADERSHIP_POLICY_ID == "PELEAD1"


def test_demo_account_added_twice_rejected() -> None:
    sandbox = PagerDutySandbox()
    demo.add_demo_account(sandbox)

    with pytest.raises(ValueError, match="'PUALICE' is already used"):
        demo.add_demo_account(sandbox)
