"""Escalation commands through the real plugins, Errbot's test backend and emulators.

`pd`, `pd trigger`, `incident escalate`, `incident engage` and `incident
checklist`, checked by the replies people read, the records of the PagerDuty
emulator and the incident issue on the GitLab emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from errbot.backends.base import Message

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import FROM_EMAIL, LEADERSHIP_SERVICE_ID
from tests.chat import Chat, posted, visible

REF = "infra/production#1"
LEADERSHIP = "dotcom leadership escalation"
OTHER_CHANNEL = "C0GENERAL1"
CHECKLIST_REMINDER = "the IMOC checklist of infra/production#1 still has open items"


def run_reminders(chat: Chat, at: str) -> list[str]:
    chat.at(at)
    chat.plugin.run_reminders()
    return posted(chat)


def reminded_items(messages: list[str]) -> list[list[str]]:
    """Return the item keys that each checklist reminder among messages names."""
    found = []
    for message in messages:
        if CHECKLIST_REMINDER not in message:
            continue
        listed = message.split("open items: ", 1)[1].split(". incident checklist")[0]
        found.append(
            [item.rsplit("(", 1)[1].rstrip(")") for item in listed.split("; ")]
        )
    return found


def created_by(sandbox: PagerDutySandbox, incident_id: str) -> str | None:
    """Return the From header of the REST request that created an incident.

    The emulator keeps it on the record but renders no field for it, as
    PagerDuty's API does not either, so this reads the emulator's store.
    """
    record: Any = sandbox._store.incidents[incident_id]
    return record.created_by


def leadership_incidents(sandbox: PagerDutySandbox) -> list[dict[str, Any]]:
    return [
        i for i in sandbox.incidents() if i["service"]["id"] == LEADERSHIP_SERVICE_ID
    ]


# pd and pd help


def test_pd_lists_usage(paging_chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = paging_chat
    backend = chat.testbot.bot
    sent: list[str] = []
    send = backend.send_message

    def record(message: Message) -> None:
        sent.append(message.body)
        send(message)

    # The test backend renders Markdown before tests read replies, which turns
    # &lt; back into <, so the bodies are read before that.
    monkeypatch.setattr(backend, "send_message", record)
    usage = ["PagerDuty commands:", "!pd services", "!pd trigger <service> [<message>]"]

    assert chat.command("alice", "pd").splitlines() == usage
    assert chat.command("alice", "pd help").splitlines() == usage
    unknown = chat.command("alice", "pd page cmoc").splitlines()
    assert unknown == ["Unknown command 'pd page'. Use one of:", *usage[1:]]
    chat.command("alice", "incident help")

    pd_body, help_body, unknown_body, incident_body = sent
    # With INCIDENT_CHAT_MARKUP=slack every reply escapes < and >, or Slack
    # would read <service> as markup and show nothing.
    assert "!pd trigger &lt;service&gt; [&lt;message&gt;]" in pd_body
    assert "<" not in pd_body
    assert help_body == pd_body
    assert "<" not in unknown_body
    assert "!incident declare [S1-S4] [--confidential] &lt;title&gt;" in incident_body


def test_pd_services_lists_keys(paging_chat: Chat) -> None:
    reply = paging_chat.command("alice", "pd services")

    assert reply.splitlines() == [
        # Markdown keeps entities inside a code span as they are; Slack
        # shows them as < and >.
        "PagerDuty services you can page (pd trigger &lt;service&gt; "
        "[&lt;message&gt;]):",
        "- imoc: Incident Manager On Call",
        "- cmoc: Communications Manager On Call",
        "- eoc: Engineer On Call",
        "- liaison: Infrastructure Liaison",
    ]


# Who may page


def test_paging_outside_incident_channel(
    s3_incident: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = s3_incident
    general = Chat(chat.testbot, OTHER_CHANNEL)
    general.at("2025-06-06T10:05:00Z")

    unnamed = general.command("carol", "pd trigger cmoc Please post to the status page")
    refused = visible(
        general.command(
            "carol", f"pd trigger {REF} cmoc Please post to the status page"
        )
    )

    assert unnamed.startswith("This channel has no incident.")
    assert refused == (
        "Only people in an incident channel, people with a role in an open "
        "incident, and the pagers in the settings (@dana) can page. Run the "
        "command in the incident's channel, or ask the lead to give you a role."
    )
    assert pagerduty_sandbox.enqueue_attempts == []
    assert pagerduty_sandbox.incidents() == []

    paged = general.command(
        "dana", f"pd trigger {REF} cmoc Please post to the status page"
    )

    assert paged.startswith(
        f"Paged Communications Manager On Call for {REF}: PagerDuty incident #1 "
        "is open."
    )
    assert [event["dedup_key"] for event in pagerduty_sandbox.events] == [f"{REF}:cmoc"]
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "erin@example.com"
    ]

    # alice leads the incident, so she may page from anywhere too.
    lead = general.command("alice", f"pd trigger {REF} eoc Please look at the 5xx rate")
    assert lead.startswith(f"Paged Engineer On Call for {REF}: PagerDuty incident #2")


# incident escalate


def test_escalate_lists_teams(paging_chat: Chat) -> None:
    chat = paging_chat
    chat.command("alice", "incident declare S3 Checkout errors")

    reply = chat.command("alice", "incident escalate")

    assert reply.splitlines() == [
        "Teams you can escalate to (incident escalate &lt;team&gt; &lt;message&gt;):",
        f"- leadership: {LEADERSHIP}",
    ]


def test_escalate_opens_leadership_incident(
    s3_incident: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = s3_incident

    by_name = chat.command(
        "alice", f'incident escalate "{LEADERSHIP}" Checkout is down for everyone'
    )

    opened = leadership_incidents(pagerduty_sandbox)
    assert len(opened) == 1
    assert opened[0]["title"] == f"[{REF}] Checkout is down for everyone"
    assert opened[0]["incident_key"] == f"{REF}:team-leadership"
    assert created_by(pagerduty_sandbox, opened[0]["id"]) == FROM_EMAIL
    assert by_name == (
        f"Escalated to {LEADERSHIP} for {REF}: PagerDuty incident #1 is open. "
        f"{opened[0]['html_url']}"
    )
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "frank@example.com"
    ]

    pagerduty_sandbox.resolve_incident(opened[0]["id"])
    chat.at("2025-06-06T11:00:00Z")
    by_key = chat.command("alice", "incident escalate leadership Down again")

    opened = leadership_incidents(pagerduty_sandbox)
    assert [i["incident_number"] for i in opened] == [1, 2]
    assert created_by(pagerduty_sandbox, opened[1]["id"]) == FROM_EMAIL
    assert by_key == (
        f"Escalated to {LEADERSHIP} for {REF}: PagerDuty incident #2 is open. "
        f"{opened[1]['html_url']}"
    )
    assert len(pagerduty_sandbox.notifications()) == 2
    description = gitlab_sandbox.issue("infra/production", 1)["description"]
    assert (
        f"2025-06-06 10:00 UTC — Escalated to {LEADERSHIP} (PagerDuty incident #1): "
        "Checkout is down for everyone (alice)"
    ) in description
    assert (
        f"2025-06-06 11:00 UTC — Escalated to {LEADERSHIP} (PagerDuty incident #2): "
        "Down again (alice)"
    ) in description


def test_escalate_again_while_open(
    s3_incident: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = s3_incident
    chat.command("alice", "incident escalate leadership Checkout is down")
    chat.at("2025-06-06T10:10:00Z")
    requests_before = len(pagerduty_sandbox.requests)

    again = chat.command("alice", "incident escalate leadership Still down")

    assert len(leadership_incidents(pagerduty_sandbox)) == 1
    assert len(pagerduty_sandbox.notifications()) == 1
    assert again.startswith(
        f"{LEADERSHIP} is already paged for {REF}: PagerDuty incident #1 is still open"
    )
    assert "is open." not in again
    sent = [
        request
        for request in pagerduty_sandbox.requests[requests_before:]
        if request[0] == "POST"
    ]
    description = gitlab_sandbox.issue("infra/production", 1)["description"]
    if not sent:
        # Nothing reached PagerDuty, so neither the reply nor the timeline may
        # claim that PagerDuty added the new message to the open incident.
        assert "added this to it" not in again
        assert "the alert got the new trigger: Still down" not in description


def test_escalate_without_message(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    chat.command("alice", "incident declare S3 Checkout errors")

    reply = chat.command("alice", "incident escalate leadership")

    assert reply == (
        f"Say what {LEADERSHIP} should know: incident escalate leadership "
        "&lt;message&gt;."
    )
    assert pagerduty_sandbox.incidents() == []


def test_unknown_names_list_valid_ones(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    chat.command("alice", "incident declare S3 Checkout errors")

    team = chat.command("alice", "incident escalate ceo Checkout is down")
    service = chat.command("alice", "pd trigger dba Please look at the primary")
    group = chat.command("alice", "incident engage dbas Please look at the primary")

    assert team == (
        f"Unknown team 'ceo': use one of leadership ({LEADERSHIP}). "
        "incident escalate lists them."
    )
    assert service == (
        "Unknown PagerDuty service 'dba': use one of imoc (Incident Manager On "
        "Call), cmoc (Communications Manager On Call), eoc (Engineer On Call), "
        "liaison (Infrastructure Liaison). pd services lists them."
    )
    assert group == (
        "Unknown group 'dbas': use one of release-managers (release managers)."
    )
    assert pagerduty_sandbox.enqueue_attempts == []
    assert pagerduty_sandbox.incidents() == []


# Paging off


def test_paging_off_without_pagerduty(chat: Chat) -> None:
    chat.at("2025-06-06T10:00:00Z")
    declared = chat.command("alice", "incident declare S2 Checkout errors")

    assert f"Declared S2 incident {REF}: Checkout errors" in declared
    assert (
        "S2 incidents page the IMOC, but the bot could not: Paging is off because "
        "PagerDuty is not set up"
    ) in declared

    reply = chat.command("alice", "pd trigger cmoc x")

    assert reply.startswith("Paging is off because PagerDuty is not set up:")
    assert "PAGERDUTY_API_KEY" in reply
    assert "PAGERDUTY_FROM" in reply
    assert "page by hand" in reply


# The IMOC checklist of S1 incidents


def test_checklist_ticks_from_events(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    declared = chat.command("alice", "incident declare S1 Checkout errors")
    assert declared.count(f"IMOC checklist of {REF}:") == 1
    assert declared.count("- [ ] ") == 6
    chat.command("alice", "incident role imoc @dana")

    first = reminded_items(run_reminders(chat, "2025-06-06T10:16:00Z"))
    assert first == [["leadership", "coordinator", "liaison", "comms", "review"]]

    chat.at("2025-06-06T10:20:00Z")
    escalated = chat.command("alice", "incident escalate leadership Checkout is down")
    assert escalated.startswith(f"Escalated to {LEADERSHIP} for {REF}")
    liaison = chat.command("alice", "pd trigger liaison Please join the call")
    assert liaison.startswith(f"Paged Infrastructure Liaison for {REF}")

    messages = run_reminders(chat, "2025-06-06T10:32:00Z")
    assert reminded_items(messages) == [["coordinator", "comms", "review"]]
    reminder = next(m for m in messages if CHECKLIST_REMINDER in m)
    assert reminder.startswith("@dana: ")

    chat.at("2025-06-06T10:35:00Z")
    chat.command("alice", "incident field root_cause Software-Change")

    second = reminded_items(run_reminders(chat, "2025-06-06T10:48:00Z"))
    assert second == [["coordinator", "release", "comms", "review"]]

    chat.at("2025-06-06T10:50:00Z")
    engaged = chat.command("alice", "incident engage release-managers Any deploy?")
    assert engaged.startswith(f"<!subteam^S0RELMGRS> you are engaged in {REF}")
    chat.command("alice", "incident role comms @erin")
    ticked = chat.command("dana", "incident checklist done coordinator").splitlines()

    assert ticked == [
        f"IMOC checklist of {REF}:",
        "- [x] Leadership notified (alice at 10:20 UTC)",
        "- [x] Senior coordinator considered (dana at 10:50 UTC)",
        "- [x] Infrastructure Liaison paged (alice at 10:20 UTC)",
        "- [x] Release managers engaged (when a change is the suspected cause) "
        "(alice at 10:50 UTC)",
        "- [x] Communications confirmed (comms role: erin)",
        "- [ ] Incident review started (review)",
        "Tick an item done outside the bot with incident checklist done &lt;item&gt;.",
    ]
    assert reminded_items(run_reminders(chat, "2025-06-06T11:04:00Z")) == [["review"]]

    chat.at("2025-06-06T11:05:00Z")
    done = chat.command("dana", "incident checklist done review")
    assert "- [ ] " not in done
    assert "- [x] Incident review started (dana at 11:05 UTC)" in done

    later = run_reminders(chat, "2025-06-06T11:20:00Z")
    later += run_reminders(chat, "2025-06-06T11:40:00Z")
    assert reminded_items(later) == []


def test_checklist_reminder_stops_on_resolve(paging_chat: Chat) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    chat.command("alice", "incident declare S1 Checkout errors")
    chat.command("alice", "incident field root_cause Infrastructure")

    first = run_reminders(chat, "2025-06-06T10:16:00Z")
    assert reminded_items(first) == [
        ["leadership", "coordinator", "liaison", "comms", "review"]
    ]
    assert "Nobody holds the IMOC role: incident role imoc @name." in first[0]
    listing = chat.command("alice", "incident checklist")
    assert (
        "- [ ] Release managers engaged (when a change is the suspected cause): "
        "not needed, the cause is no change"
    ) in listing

    chat.at("2025-06-06T10:20:00Z")
    chat.command("alice", "incident resolve --force")
    later = run_reminders(chat, "2025-06-06T10:35:00Z")
    later += run_reminders(chat, "2025-06-06T11:00:00Z")

    assert reminded_items(later) == []


def test_checklist_done_unknown_item(paging_chat: Chat) -> None:
    chat = paging_chat
    chat.at(datetime(2025, 6, 6, 10, 0, tzinfo=UTC))
    chat.command("alice", "incident declare S1 Checkout errors")

    reply = chat.command("alice", "incident checklist done lawyers")

    assert reply == (
        "Unknown checklist item 'lawyers': use one of leadership, coordinator, "
        "liaison, release, comms, review."
    )
