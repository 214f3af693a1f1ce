"""End-state checks of the pages a replay made: PagerDuty's records and the bot's.

The expected files list the pages and escalations people requested. The IMOC
page that a severity with page_imoc brings is not listed there, since no one
typed it, so it is checked from the severity history: once per incident.
"""

from __future__ import annotations

from typing import Any

from incidentbot.model import Incident
from incidentbot.settings import example_settings_path, load_settings
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import API_KEY, FROM_EMAIL
from tests.replay import ReplayRun

SETTINGS = load_settings(example_settings_path())


def check_pages(run: ReplayRun, stored: Incident, pagerduty: PagerDutySandbox) -> None:
    escalation = SETTINGS.escalation
    requested = [page for page in stored.pages if not page.automatic]
    services = [page for page in requested if page.kind == "service"]
    teams = [page for page in requested if page.kind == "team"]
    expected_pages = run.expected["pages"]
    expected_teams = run.expected["escalations"]

    assert [page.target for page in services] == [
        item["service"] for item in expected_pages
    ]
    assert [page.target for page in teams] == [
        item.get("team", item) for item in expected_teams
    ]
    incidents = pagerduty.incidents()
    for item in expected_pages:
        service = escalation.services[item["service"]]
        reply = run.replies[item["line"]]
        assert reply.startswith(f"Paged {service.name} for {stored.ref}: "), reply
        key = f"{stored.ref}:{service.key}"
        assert [i for i in incidents if i["incident_key"] == key], key
    for page in requested:
        assert page.outcome == "opened", page

    raised = [
        name
        for name, _ in stored.severity_history
        if SETTINGS.severities[name].page_imoc
    ]
    imoc_pages = [page for page in stored.pages if page.automatic]
    assert len(imoc_pages) == (1 if raised else 0), imoc_pages
    imoc_key = f"{stored.ref}:{escalation.imoc_service}"
    opened = [i for i in incidents if i["incident_key"] == imoc_key]
    assert len(opened) == (1 if raised else 0), opened
    text = _timeline_text(stored)
    for page in stored.pages:
        assert page.name in text, page


def _timeline_text(stored: Incident) -> str:
    return "\n".join(entry.text for entry in stored.timeline if entry.kind == "page")


def pagerduty_config(sandbox: PagerDutySandbox) -> dict[str, Any]:
    return {
        "PAGERDUTY_API_KEY": API_KEY,
        "PAGERDUTY_FROM": FROM_EMAIL,
        "PAGERDUTY_API_URL": sandbox.url,
        "PAGERDUTY_EVENTS_URL": sandbox.url,
        "PAGERDUTY_CA_BUNDLE": str(sandbox.ca_bundle),
    }
