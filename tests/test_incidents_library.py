"""The incident library on the sandbox GitLab, without a chat bot around it.

Some inputs cannot arrive through chat at all (Slack caps a message at 40,000
characters, and Errbot's command matching slows down with the number of words
in a message), so these tests call the library directly.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incidentbot.gitlab_api import GitLab
from incidentbot.incidents import IncidentError, Incidents
from incidentbot.settings import example_settings_path, load_settings
from incidentbot.store import IncidentStore
from sandbox.gitlab import GitLabSandbox

NOW = datetime(2025, 6, 6, 22, 10, tzinfo=UTC)


@pytest.fixture
def incidents(gitlab_sandbox: GitLabSandbox) -> Incidents:
    gitlab = GitLab.connect(gitlab_sandbox.url, gitlab_sandbox.token)
    settings = load_settings(example_settings_path())
    return Incidents(IncidentStore({}), gitlab, settings, lambda: NOW)


def test_huge_summary_goes_to_numbered_notes(
    incidents: Incidents, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = incidents.declare("S2", "Replication lag", "C0INC00042", "alice")
    table = "| host | lag |\n" + "| db | 300s |\n" * 90_000

    stored = incidents.set_summary(incident.ref, "impact", table)

    issue = gitlab_sandbox.issue("infra/production", incident.iid)
    parts = [note["body"] for note in issue["notes"]]
    assert len(table) > 1_200_000
    assert len(parts) == 2
    assert parts[0].startswith("(part 1 of 2)")
    assert parts[1].startswith("(part 2 of 2)")
    assert all(len(part) <= 1_000_000 for part in parts)
    assert len(issue["description"]) < 10_000
    assert stored.summary["impact"].endswith(
        "(the full text is in 2 notes on this issue)"
    )


def test_description_over_gitlab_limit_is_refused(
    incidents: Incidents, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = incidents.declare("S2", "Replication lag", "C0INC00042", "alice")
    entry = "x" * 19_000
    for _ in range(55):
        incidents.add_timeline(incident.ref, NOW, entry, "bob")

    with pytest.raises(IncidentError, match="over GitLab's limit"):
        incidents.add_timeline(incident.ref, NOW, entry, "bob")

    stored = incidents.store.require(incident.ref)
    assert len(stored.timeline) == 56


def test_short_summary_replaces_long_notes(
    incidents: Incidents, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = incidents.declare("S2", "Replication lag", "C0INC00042", "alice")
    incidents.set_summary(incident.ref, "causes", "| a | b |\n" * 3_000)
    assert len(gitlab_sandbox.issue("infra/production", incident.iid)["notes"]) == 1

    incidents.set_summary(incident.ref, "causes", "A bad index")

    issue = gitlab_sandbox.issue("infra/production", incident.iid)
    assert issue["notes"] == []
    assert "A bad index" in issue["description"]


def test_unscoped_state_labels_replace_each_other(
    gitlab_sandbox: GitLabSandbox,
) -> None:
    import dataclasses

    gitlab = GitLab.connect(gitlab_sandbox.url, gitlab_sandbox.token)
    settings = dataclasses.replace(
        load_settings(example_settings_path()),
        state_labels={
            "active": "incident-active",
            "mitigated": "incident-mitigated",
            "resolved": "incident-resolved",
        },
    )
    incidents = Incidents(IncidentStore({}), gitlab, settings, lambda: NOW)
    incident = incidents.declare("S2", "Replication lag", "C0INC00042", "alice")

    incidents.mitigate(incident.ref, "alice")

    labels = gitlab_sandbox.issue("infra/production", incident.iid)["labels"]
    assert "incident-mitigated" in labels
    assert "incident-active" not in labels


def test_attach_moves_incident_to_new_channel(
    incidents: Incidents, gitlab_sandbox: GitLabSandbox
) -> None:
    incident = incidents.declare("S2", "Replication lag", "C0OLD", "alice")

    incidents.attach(incident.web_url, "C0NEW", "bob")

    assert incidents.store.bound_ref("C0OLD") is None
    assert incidents.store.bound_ref("C0NEW") == incident.ref
