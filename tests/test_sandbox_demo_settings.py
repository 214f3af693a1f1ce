"""Consistency of settings.example.toml with the sandbox's demo PagerDuty account.

`make run` pages the demo account of sandbox/pagerduty_demo.py with the
example settings, so every PagerDuty routing key, id and e-mail address in the
settings must name a record of that account. Otherwise a page from a fresh
checkout fails against the sandbox.
"""

from __future__ import annotations

import pytest

from incidentbot.escalation_settings import EscalationSettings
from incidentbot.settings import example_settings_path, load_settings
from sandbox import pagerduty_demo as demo

ESCALATION: EscalationSettings = load_settings(example_settings_path()).escalation
DEMO_SERVICES = {service.id: service for service in demo.SERVICES}
DEMO_POLICY_IDS = {policy.id for policy in demo.ESCALATION_POLICIES}
DEMO_SCHEDULE_IDS = {schedule.id for schedule in demo.SCHEDULES}
DEMO_EMAILS = {user.email.lower() for user in demo.USERS}


def test_example_settings_define_services() -> None:
    # An empty table would make the routing key test below pass vacuously.
    assert ESCALATION.services, "settings.example.toml has no [pagerduty.services]"


@pytest.mark.parametrize("key", sorted(ESCALATION.services))
def test_routing_key_is_demo_service(key: str) -> None:
    routing_key = ESCALATION.services[key].routing_key
    matching_ids = [s.id for s in demo.SERVICES if s.routing_key == routing_key]

    assert len(matching_ids) == 1, (
        f"[pagerduty.services.{key}] routing_key matches {len(matching_ids)} demo "
        "services; it must be the routing key of exactly one service in "
        "sandbox/pagerduty_demo.py"
    )


def test_leadership_team_in_demo() -> None:
    assert ESCALATION.leadership_team, "[escalation] leadership_team is empty"
    team = ESCALATION.teams[ESCALATION.leadership_team]

    assert team.service_id in DEMO_SERVICES, (
        f"leadership service_id {team.service_id} is not a demo service: "
        f"use one of {sorted(DEMO_SERVICES)}"
    )
    assert team.escalation_policy_id in DEMO_POLICY_IDS, (
        f"leadership escalation_policy_id {team.escalation_policy_id!r} is not a "
        f"demo escalation policy: use one of {sorted(DEMO_POLICY_IDS)}"
    )


@pytest.mark.parametrize(
    "setting", ["imoc_schedule", "engineer_schedule", "comms_schedule"]
)
def test_schedule_is_demo_schedule(setting: str) -> None:
    schedule_id = getattr(ESCALATION, setting)

    assert schedule_id in DEMO_SCHEDULE_IDS, (
        f"[escalation] {setting} = {schedule_id!r} is not a demo schedule: use "
        f"one of {sorted(DEMO_SCHEDULE_IDS)}"
    )


def test_people_are_demo_users() -> None:
    assert ESCALATION.people, "settings.example.toml has no [escalation.people]"
    unknown = sorted(set(ESCALATION.people) - DEMO_EMAILS)

    assert unknown == [], (
        f"[escalation.people] names e-mail addresses that are not demo users: "
        f"{unknown}; demo users are {sorted(DEMO_EMAILS)}"
    )
