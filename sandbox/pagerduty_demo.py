"""The PagerDuty account that `python -m sandbox` serves: people, rotations, services.

Every id and routing key is fixed, so that a settings file written once for
the sandbox names the same records at every start. Dana is the IMOC on call,
Bob the engineer on call and Erin the communications manager on call. The
Infrastructure Liaison policy pages Carol and the leadership policy pages
Frank, each named directly. The bot acts as the user Incident Bot, whose
email is the From address of its REST requests.
"""

from __future__ import annotations

from typing import NamedTuple

from sandbox.pagerduty import PagerDutySandbox

# The REST API key that `python -m sandbox` requires by default.
API_KEY = "sandbox-pagerduty-key"
# The bot's own PagerDuty user, the From address of incidents it creates.
FROM_EMAIL = "incidentbot@example.com"


class DemoUser(NamedTuple):
    id: str
    name: str
    email: str


class DemoSchedule(NamedTuple):
    id: str
    name: str
    # The user on call now.
    on_call: str


class DemoPolicy(NamedTuple):
    id: str
    name: str
    # User or schedule ids of each escalation level, first level first.
    levels: tuple[tuple[str, ...], ...]


class DemoService(NamedTuple):
    id: str
    name: str
    escalation_policy_id: str
    # The Events API v2 integration key, or None for a generated one.
    routing_key: str | None


ALICE_ID = "PUALICE"
BOB_ID = "PUBOB01"
CAROL_ID = "PUCAROL"
DANA_ID = "PUDANA1"
ERIN_ID = "PUERIN1"
FRANK_ID = "PUFRANK"
BOT_USER_ID = "PUBOT01"

IMOC_SCHEDULE_ID = "PSIMOC1"
EOC_SCHEDULE_ID = "PSEOC01"
CMOC_SCHEDULE_ID = "PSCMOC1"

IMOC_POLICY_ID = "PEIMOC1"
EOC_POLICY_ID = "PEEOC01"
CMOC_POLICY_ID = "PECMOC1"
LIAISON_POLICY_ID = "PELIAS1"
LEADERSHIP_POLICY_ID = "PELEAD1"

IMOC_SERVICE_ID = "PVIMOC1"
CMOC_SERVICE_ID = "PVCMOC1"
EOC_SERVICE_ID = "PVEOC01"
LIAISON_SERVICE_ID = "PVLIAS1"
LEADERSHIP_SERVICE_ID = "PVLEAD1"

IMOC_ROUTING_KEY = "sandboximocroutingkey00000000000"
CMOC_ROUTING_KEY = "sandboxcmocroutingkey00000000000"
EOC_ROUTING_KEY = "sandboxeocroutingkey000000000000"
LIAISON_ROUTING_KEY = "sandboxliaisonroutingkey00000000"

USERS = (
    DemoUser(ALICE_ID, "Alice Archer", "alice@example.com"),
    DemoUser(BOB_ID, "Bob Baker", "bob@example.com"),
    DemoUser(CAROL_ID, "Carol Chen", "carol@example.com"),
    DemoUser(DANA_ID, "Dana Diaz", "dana@example.com"),
    DemoUser(ERIN_ID, "Erin Evans", "erin@example.com"),
    DemoUser(FRANK_ID, "Frank Fox", "frank@example.com"),
    DemoUser(BOT_USER_ID, "Incident Bot", FROM_EMAIL),
)

SCHEDULES = (
    DemoSchedule(IMOC_SCHEDULE_ID, "IMOC rotation", DANA_ID),
    DemoSchedule(EOC_SCHEDULE_ID, "Engineer on call", BOB_ID),
    DemoSchedule(CMOC_SCHEDULE_ID, "Communications manager on call", ERIN_ID),
)

ESCALATION_POLICIES = (
    DemoPolicy(IMOC_POLICY_ID, "IMOC", ((IMOC_SCHEDULE_ID,),)),
    DemoPolicy(EOC_POLICY_ID, "Engineer on call", ((EOC_SCHEDULE_ID,),)),
    DemoPolicy(CMOC_POLICY_ID, "Communications manager", ((CMOC_SCHEDULE_ID,),)),
    DemoPolicy(LIAISON_POLICY_ID, "Infrastructure Liaison", ((CAROL_ID,),)),
    DemoPolicy(LEADERSHIP_POLICY_ID, "dotcom leadership escalation", ((FRANK_ID,),)),
)

SERVICES = (
    DemoService(
        IMOC_SERVICE_ID, "Incident Manager On Call", IMOC_POLICY_ID, IMOC_ROUTING_KEY
    ),
    DemoService(
        CMOC_SERVICE_ID,
        "Communications Manager On Call",
        CMOC_POLICY_ID,
        CMOC_ROUTING_KEY,
    ),
    DemoService(EOC_SERVICE_ID, "Engineer On Call", EOC_POLICY_ID, EOC_ROUTING_KEY),
    DemoService(
        LIAISON_SERVICE_ID,
        "Infrastructure Liaison",
        LIAISON_POLICY_ID,
        LIAISON_ROUTING_KEY,
    ),
    # The bot pages leadership by creating REST incidents, not by events, so
    # no settings file needs this service's routing key.
    DemoService(
        LEADERSHIP_SERVICE_ID,
        "dotcom leadership escalation",
        LEADERSHIP_POLICY_ID,
        None,
    ),
)


def add_demo_account(sandbox: PagerDutySandbox) -> None:
    """Create the users, schedules, escalation policies and services above.

    Raises ValueError when any of their ids or emails is already in use.
    """
    for user in USERS:
        sandbox.add_user(user.name, user.email, id=user.id)
    for schedule in SCHEDULES:
        sandbox.add_schedule(schedule.name, schedule.on_call, id=schedule.id)
    for policy in ESCALATION_POLICIES:
        sandbox.add_escalation_policy(policy.name, policy.levels, id=policy.id)
    for service in SERVICES:
        sandbox.add_service(
            service.name,
            service.escalation_policy_id,
            routing_key=service.routing_key,
            id=service.id,
        )
