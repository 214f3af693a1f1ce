"""Paging cases seen in the field, through the real plugins and both emulators.

Each test checks what people see in chat, what PagerDuty received and paged
(the emulator's records) and what the incident issue's timeline contains.
"""

from __future__ import annotations

from typing import Any

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import (
    CMOC_SERVICE_ID,
    EOC_SERVICE_ID,
    IMOC_SERVICE_ID,
)
from tests.chat import Chat

REF = "infra/production#1"
EVENTS = "^/v2/enqueue$"
CMOC = "Communications Manager On Call"
IMOC = "Incident Manager On Call"
# settings.example.toml sets [pagerduty] max_retries = 3, so a page that keeps
# failing makes four attempts.
ATTEMPTS = 4
FIREFIGHTER = "\U0001f469\u200d\U0001f692"  # woman, zero width joiner, fire engine
# 24 ASCII characters and 492 three-code-point emoji: 1,500 characters. The
# summary "[infra/production#1] " + text reaches 1,023 UTF-16 code units inside
# an emoji sequence, so a plain cut there would leave half of the emoji.
LONG_TEXT = "Status page is stale now" + FIREFIGHTER * 492


def timeline(gitlab_sandbox: GitLabSandbox) -> str:
    description: str = gitlab_sandbox.issue("infra/production", 1)["description"]
    return description.split("## Timeline", 1)[1].split("<!--", 1)[0]


def on_service(incidents: list[dict[str, Any]], service_id: str) -> list[Any]:
    return [
        incident for incident in incidents if incident["service"]["id"] == service_id
    ]


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# Repeated triggers and the dedup_key


def test_trigger_again_while_alert_open(
    s3_incident: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = s3_incident

    first = chat.command("alice", "pd trigger cmoc Please post to the status page")
    assert first.startswith(f"Paged {CMOC} for {REF}: PagerDuty incident #1 is open.")
    cmoc_incident = pagerduty_sandbox.incidents()[0]
    assert first.endswith(cmoc_incident["html_url"])
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "erin@example.com"
    ]

    chat.at("2025-06-06T10:03:00Z")
    again = chat.command("alice", "pd trigger cmoc Still waiting for the status page")
    assert again.startswith(
        f"{CMOC} is already paged for {REF}: PagerDuty incident #1 is still open"
    )
    assert "nobody new was notified" in again
    assert not again.startswith("Paged")
    assert "is open." not in again
    assert len(pagerduty_sandbox.incidents()) == 1
    assert len(pagerduty_sandbox.notifications()) == 1
    alerts = pagerduty_sandbox.alerts()
    assert len(alerts) == 1
    assert alerts[0]["trigger_count"] == 2

    pagerduty_sandbox.resolve_incident(cmoc_incident["id"])
    chat.at("2025-06-06T11:30:00Z")
    after = chat.command("alice", "pd trigger cmoc The status page needs an update")
    assert after.startswith(f"Paged {CMOC} for {REF}: PagerDuty incident #2 is open.")
    cmoc_incidents = on_service(pagerduty_sandbox.incidents(), CMOC_SERVICE_ID)
    assert [i["incident_number"] for i in cmoc_incidents] == [1, 2]
    assert [i["status"] for i in cmoc_incidents] == ["resolved", "triggered"]
    assert len(pagerduty_sandbox.notifications()) == 2

    engineer = chat.command("alice", "pd trigger eoc Please look at the 5xx rate")
    assert engineer.startswith(
        f"Paged Engineer On Call for {REF}: PagerDuty incident #3 is open."
    )
    eoc_incidents = on_service(pagerduty_sandbox.incidents(), EOC_SERVICE_ID)
    assert [i["incident_key"] for i in eoc_incidents] == [f"{REF}:eoc"]
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "erin@example.com",
        "erin@example.com",
        "bob@example.com",
    ]
    assert [event["dedup_key"] for event in pagerduty_sandbox.events] == [
        f"{REF}:cmoc",
        f"{REF}:cmoc",
        f"{REF}:cmoc",
        f"{REF}:eoc",
    ]

    entries = timeline(gitlab_sandbox)
    assert (
        f"2025-06-06 10:00 UTC — Paged {CMOC} (PagerDuty incident #1): Please post "
        "to the status page (alice)"
    ) in entries
    assert (
        f"2025-06-06 10:03 UTC — {CMOC} was already paged (PagerDuty incident #1); "
        "the alert got the new trigger: Still waiting for the status page (alice)"
    ) in entries
    assert (
        f"2025-06-06 11:30 UTC — Paged {CMOC} (PagerDuty incident #2): The status "
        "page needs an update (alice)"
    ) in entries
    assert (
        "2025-06-06 11:30 UTC — Paged Engineer On Call (PagerDuty incident #3): "
        "Please look at the 5xx rate (alice)"
    ) in entries


# Rate limits, long messages and failures


def test_trigger_retries_after_rate_limit(
    s3_incident: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = s3_incident
    # Retry-After 0 keeps the bot's waits between attempts short.
    pagerduty_sandbox.fail_next("POST", EVENTS, 429, times=2, retry_after=0)

    reply = chat.command("alice", f"pd trigger cmoc {LONG_TEXT}")

    attempts = pagerduty_sandbox.enqueue_attempts
    assert len(attempts) == 3
    assert {attempt["dedup_key"] for attempt in attempts} == {f"{REF}:cmoc"}
    assert len({attempt["payload"]["summary"] for attempt in attempts}) == 1
    assert len(pagerduty_sandbox.incidents()) == 1
    assert len(pagerduty_sandbox.notifications()) == 1
    assert reply.count(f"Paged {CMOC} for {REF}") == 1
    assert reply.startswith(f"Paged {CMOC} for {REF}: PagerDuty incident #1 is open.")
    assert chat.no_reply()
    assert f"Paged {CMOC} (PagerDuty incident #1)" in timeline(gitlab_sandbox)


def test_long_message_summary_is_trimmed(
    s3_incident: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = s3_incident
    assert len(LONG_TEXT) == 1500
    assert LONG_TEXT.endswith(FIREFIGHTER)

    reply = chat.command("alice", f"pd trigger cmoc {LONG_TEXT}")

    assert reply.startswith(f"Paged {CMOC} for {REF}: PagerDuty incident #1 is open.")
    payload = pagerduty_sandbox.events[0]["payload"]
    summary = payload["summary"]
    full = f"[{REF}] {LONG_TEXT}"
    assert len(summary) <= 1024
    assert utf16_length(summary) <= 1024
    # A lone surrogate (half of an astral character) cannot be encoded.
    summary.encode("utf-8")
    assert summary.endswith("…")
    cut_text = summary.removesuffix("…")
    assert full.startswith(cut_text)
    # The cut falls between two emoji, not inside a zero width joiner sequence.
    assert cut_text.endswith(FIREFIGHTER)
    assert full[len(cut_text) :].startswith(FIREFIGHTER)
    assert payload["custom_details"]["message"] == full
    assert pagerduty_sandbox.alerts()[0]["summary"] == summary


def test_long_message_timeline_keeps_emoji_whole(
    s3_incident: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    chat = s3_incident

    chat.command("alice", f"pd trigger cmoc {LONG_TEXT}")

    entries = timeline(gitlab_sandbox).splitlines()
    paged = next(entry for entry in entries if f"Paged {CMOC}" in entry)
    message = paged.split("): ", 1)[1].removesuffix(" (alice)")
    assert message.startswith("Status page is stale now")
    assert message.endswith("…")
    # The timeline shortens the message too, and the cut must not leave the
    # first half of an emoji sequence (a dangling zero width joiner).
    assert message.removesuffix("…").endswith(FIREFIGHTER)


def test_trigger_fails_on_every_attempt(
    s3_incident: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = s3_incident
    pagerduty_sandbox.fail_next("POST", EVENTS, 500, times=ATTEMPTS, retry_after=0)

    reply = chat.command("alice", f"pd trigger cmoc {LONG_TEXT}")

    assert len(pagerduty_sandbox.enqueue_attempts) == ATTEMPTS
    assert pagerduty_sandbox.incidents() == []
    assert pagerduty_sandbox.notifications() == []
    assert reply.startswith(f"Paging {CMOC} for {REF} failed")
    assert "assume nobody has been notified" in reply
    assert (
        f"By hand: in the PagerDuty web app or phone app, trigger an incident on "
        f"{CMOC}, then say in this channel that you did."
    ) in reply
    assert "paged" not in reply.lower()
    assert (
        f"2025-06-06 10:00 UTC — Paging {CMOC} failed: nobody was reached through "
        "PagerDuty: Status page is stale now"
    ) in timeline(gitlab_sandbox)


# The automatic IMOC page


def test_declare_twice_pages_imoc_once(
    paging_chat: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")

    first = chat.command("alice", "incident declare S2 Checkout errors")
    second = chat.command("alice", "incident declare S2 Checkout errors")

    assert f"Paged {IMOC} for {REF}: PagerDuty incident #1 is open." in first
    # The second declare names the incident that exists and declares nothing.
    assert not second.startswith("Declared")
    assert REF in second
    assert len(gitlab_sandbox.issues("infra/production")) == 1
    assert len(on_service(pagerduty_sandbox.incidents(), IMOC_SERVICE_ID)) == 1
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "dana@example.com"
    ]


def test_raise_to_s2_then_s1_pages_imoc_once(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    declared = chat.command("alice", "incident declare S3 Checkout errors")
    assert IMOC not in declared
    assert pagerduty_sandbox.incidents() == []

    chat.at("2025-06-06T10:10:00Z")
    to_s2 = chat.command("alice", "incident field severity S2")
    chat.at("2025-06-06T10:20:00Z")
    to_s1 = chat.command("alice", "incident field severity S1")
    chat.command("alice", "incident field severity S2")
    to_s1_again = chat.command("alice", "incident field severity S1")

    assert to_s2.startswith(f"severity of {REF} is now S2 (was S3).")
    assert f"Paged {IMOC} for {REF}: PagerDuty incident #1 is open." in to_s2
    assert IMOC not in to_s1
    assert IMOC not in to_s1_again
    assert len(on_service(pagerduty_sandbox.incidents(), IMOC_SERVICE_ID)) == 1
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "dana@example.com"
    ]
    checklist = f"IMOC checklist of {REF}:"
    assert checklist not in to_s2
    assert to_s1.count(checklist) == 1
    assert checklist not in to_s1_again
    assert chat.no_reply()


def test_imoc_page_fails_then_raise_retries(
    paging_chat: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    pagerduty_sandbox.fail_next("POST", EVENTS, 500, times=ATTEMPTS, retry_after=0)

    declared = chat.command("alice", "incident declare S2 Checkout errors")

    assert f"Declared S2 incident {REF}: Checkout errors" in declared
    assert f"Paging {IMOC} for {REF} failed, so assume nobody has been notified." in (
        declared
    )
    assert (
        f"By hand: in the PagerDuty web app or phone app, trigger an incident on "
        f"{IMOC}, then say in this channel that you did."
    ) in declared
    assert f"Paged {IMOC}" not in declared
    assert len(pagerduty_sandbox.enqueue_attempts) == ATTEMPTS
    assert pagerduty_sandbox.incidents() == []
    assert pagerduty_sandbox.notifications() == []
    assert (
        f"Paging {IMOC} failed: nobody was reached through PagerDuty automatically"
    ) in timeline(gitlab_sandbox)

    chat.at("2025-06-06T10:05:00Z")
    raised = chat.command("alice", "incident field severity S1")

    assert f"Paged {IMOC} for {REF}: PagerDuty incident #1 is open." in raised
    assert len(on_service(pagerduty_sandbox.incidents(), IMOC_SERVICE_ID)) == 1
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "dana@example.com"
    ]
    assert f"Paged {IMOC} (PagerDuty incident #1) automatically" in timeline(
        gitlab_sandbox
    )
