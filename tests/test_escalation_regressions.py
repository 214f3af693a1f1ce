"""Paging regressions through the real plugins, Errbot's test backend and emulators.

Resolved incidents, re-attached issues, PagerDuty look-ups that fail,
requests that time out, restarts during a page, group mentions from another
channel and checklist ticks. Each test checks the replies people read and
what the PagerDuty emulator received and paged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from errbot.backends.base import Message

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import (
    BOB_ID,
    IMOC_SCHEDULE_ID,
    IMOC_SERVICE_ID,
    LEADERSHIP_SERVICE_ID,
)
from tests.chat import Chat, posted, visible
from tests.conftest import ROOT, BotFactory
from tests.test_escalation_duty import PAST_SHIFT_CHECK, SHIFT_PROMPT, shift_start

REF = "infra/production#1"
CHANNEL = "C0INC00042"
OTHER_CHANNEL = "C0GENERAL1"
EVENTS = "^/v2/enqueue$"
INCIDENTS = "^/incidents$"
CMOC = "Communications Manager On Call"
IMOC = "Incident Manager On Call"
LEADERSHIP = "dotcom leadership escalation"
# settings.example.toml leaves max_retries at its default of 3, so a request
# that keeps failing is sent four times.
ATTEMPTS = 4


def on_service(sandbox: PagerDutySandbox, service_id: str) -> list[dict[str, Any]]:
    return [i for i in sandbox.incidents() if i["service"]["id"] == service_id]


def posts_to_enqueue(sandbox: PagerDutySandbox) -> list[tuple[str, str]]:
    return [r for r in sandbox.requests if r == ("POST", "/v2/enqueue")]


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {seconds} s: {condition}")
        time.sleep(0.05)


def record_sends(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Record the (recipient, body) of every message the bot sends from now on.

    Errbot's test backend addresses every reply to the bot itself, and a
    post to a channel to that channel's id, so the recipient separates a post in
    the incident's channel from the reply to the command.
    """
    backend = chat.testbot.bot
    sent: list[tuple[str, str]] = []
    send = backend.send_message

    def record(message: Message) -> None:
        sent.append((str(message.to), visible(message.body)))
        send(message)

    monkeypatch.setattr(backend, "send_message", record)
    return sent


# Resolved incidents


def test_resolved_incident_pages_nobody(
    s3_incident: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = s3_incident
    resolved = chat.command("alice", "incident resolve --force")
    assert f"{REF} is resolved (forced)" in resolved

    chat.at("2025-06-06T11:00:00Z")
    raised = chat.command("alice", "incident field severity S1")
    later = posted(chat)

    assert raised.startswith(f"severity of {REF} is now S1 (was S3).")
    assert IMOC not in raised
    assert "IMOC checklist" not in raised
    assert [m for m in later if "IMOC checklist" in m or IMOC in m] == []
    assert pagerduty_sandbox.incidents() == []
    assert pagerduty_sandbox.notifications() == []

    trigger = visible(chat.command("alice", "pd trigger cmoc x"))

    assert trigger == (
        f"{REF} is resolved, so the bot pages no one for it. If the problem is "
        "back, declare a new incident, or page by hand in PagerDuty."
    )
    assert pagerduty_sandbox.enqueue_attempts == []
    assert [r for r in pagerduty_sandbox.requests if r[0] == "POST"] == []
    assert pagerduty_sandbox.incidents() == []
    assert pagerduty_sandbox.notifications() == []


def test_handover_accept_after_resolve(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    start = shift_start()
    chat.at(start)
    chat.command("alice", "incident declare S2 Checkout errors")
    chat.command("alice", "incident role imoc @dana")
    # The first shift check only learns who is on call.
    chat.at(start + timedelta(minutes=1))
    chat.plugin.run_reminders()
    assert posted(chat) == []
    pagerduty_sandbox.set_on_call(IMOC_SCHEDULE_ID, BOB_ID)
    chat.at(start + timedelta(minutes=1) + PAST_SHIFT_CHECK)
    chat.plugin.run_reminders()
    prompts = [m for m in posted(chat) if SHIFT_PROMPT in m]
    assert len(prompts) == 1
    assert prompts[0].startswith("@bob: ")

    chat.at(start + timedelta(minutes=20))
    chat.command("alice", "incident resolve --force")
    rejected = chat.command("bob", "incident handover accept")

    assert rejected == f"{REF} is resolved, so its IMOC role needs no one."
    assert "- imoc: dana" in chat.command("alice", "incident roles")


# The automatic IMOC page of an attached issue


def test_attach_s1_issue_pages_imoc_once(
    paging_chat: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    issue = gitlab_sandbox.create_issue_directly(
        "infra/production",
        title="Checkout errors",
        issue_type="incident",
        labels=["incident", "severity::1"],
    )

    attached = chat.command("alice", f"incident attach {issue['web_url']}")

    assert attached.startswith(f"This channel now runs {REF}: Checkout errors")
    assert f"Paged {IMOC} for {REF}: PagerDuty incident #1 is open." in attached
    assert attached.count(f"Paged {IMOC}") == 1
    assert len(on_service(pagerduty_sandbox, IMOC_SERVICE_ID)) == 1
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "dana@example.com"
    ]

    general = Chat(chat.testbot, OTHER_CHANNEL)
    general.at("2025-06-06T10:10:00Z")
    again = general.command("alice", f"incident attach {issue['web_url']}")

    assert f"This channel now runs {REF}" in again
    assert IMOC not in again
    assert len(on_service(pagerduty_sandbox, IMOC_SERVICE_ID)) == 1
    assert len(pagerduty_sandbox.notifications()) == 1
    assert len(posts_to_enqueue(pagerduty_sandbox)) == 1


# PagerDuty look-ups that fail


def test_trigger_again_while_lookup_fails(
    s3_incident: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = s3_incident
    first = chat.command("alice", "pd trigger cmoc Please post to the status page")
    assert first.startswith(f"Paged {CMOC} for {REF}: PagerDuty incident #1 is open.")
    pagerduty_sandbox.fail_next("GET", INCIDENTS, 500, times=ATTEMPTS, retry_after=0)

    chat.at("2025-06-06T10:05:00Z")
    again = visible(chat.command("alice", "pd trigger cmoc Still waiting"))

    assert not again.startswith("Paged")
    assert "is open." not in again
    assert "PagerDuty accepted it" in again
    assert "could not look up" in again
    assert len(posts_to_enqueue(pagerduty_sandbox)) == 2
    assert len(pagerduty_sandbox.incidents()) == 1
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "erin@example.com"
    ]


def test_escalate_again_while_lookup_fails(
    s3_incident: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = s3_incident
    first = chat.command("alice", "incident escalate leadership first")
    assert first.startswith(
        f"Escalated to {LEADERSHIP} for {REF}: PagerDuty incident #1 is open."
    )
    pagerduty_sandbox.fail_next("GET", INCIDENTS, 500, times=ATTEMPTS, retry_after=0)

    chat.at("2025-06-06T10:05:00Z")
    second = visible(chat.command("alice", "incident escalate leadership second"))

    assert second.startswith(f"{LEADERSHIP} is already paged for {REF}")
    assert "the bot sent nothing new" in second
    assert "failed" not in second.lower()
    assert len(on_service(pagerduty_sandbox, LEADERSHIP_SERVICE_ID)) == 1
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "frank@example.com"
    ]


# Requests that time out


def test_trigger_timeout_found_by_lookup(
    paging_config: dict[str, Any],
    bot_config: dict[str, Any],
    start_bot: BotFactory,
    pagerduty_sandbox: PagerDutySandbox,
    tmp_path: Path,
) -> None:
    example = (ROOT / "settings.example.toml").read_text()
    short = example.replace(
        "[pagerduty]\n", "[pagerduty]\nrequest_timeout = 1\nmax_retries = 1\n", 1
    )
    assert short != example
    settings = tmp_path / "settings.toml"
    settings.write_text(short)
    bot_config["INCIDENT_SETTINGS"] = str(settings)
    chat = Chat(start_bot())
    chat.at("2025-06-06T10:00:00Z")
    chat.command("alice", "incident declare S3 Checkout errors")
    # Both attempts outlast the 1 s timeout, and the emulator still carries
    # each out when its delay ends.
    pagerduty_sandbox.delay_next("POST", EVENTS, 2.0, times=2)

    reply = chat.command("alice", "pd trigger cmoc Please post to the status page")
    wait_for(lambda: len(pagerduty_sandbox.events) == 2)

    opened = pagerduty_sandbox.incidents()
    assert len(posts_to_enqueue(pagerduty_sandbox)) == 2
    assert len(opened) == 1
    assert reply.startswith(f"Paged {CMOC} for {REF}: PagerDuty incident #1 is open.")
    assert reply.endswith(opened[0]["html_url"])
    assert [n["email"] for n in pagerduty_sandbox.notifications()] == [
        "erin@example.com"
    ]


# A restart while a page is in flight


def test_restart_during_page_keeps_record(
    s3_incident: Chat, pagerduty_sandbox: PagerDutySandbox, start_bot: BotFactory
) -> None:
    chat = s3_incident
    pagerduty_sandbox.delay_next("POST", EVENTS, 3.0)

    # Errbot runs commands in its thread pool, so send returns at once.
    chat.send("alice", "!pd trigger cmoc Please post to the status page")
    time.sleep(0.5)
    assert len(posts_to_enqueue(pagerduty_sandbox)) == 1
    assert pagerduty_sandbox.events == []
    # start_bot stops the running bot first, which closes its storage while
    # the page still waits for PagerDuty, so the outcome is never stored, as
    # when the process dies mid-page.
    restarted = Chat(start_bot())
    assert len(pagerduty_sandbox.events) == 1
    restarted.at("2025-06-06T10:10:00Z")
    brief = restarted.command("alice", "incident handover imoc @bob").splitlines()

    assert brief[0] == f"bob is now imoc of {REF}. Brief:"
    paged = next(line for line in brief if line.startswith("- Paged: "))
    # PagerDuty carried the page out, so the brief may call it paged or not
    # confirmed, but must not claim that no one was paged.
    assert "nobody" not in paged
    assert CMOC in paged


# Group mentions from another channel


def test_engage_from_other_channel(
    s3_incident: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = s3_incident
    general = Chat(chat.testbot, OTHER_CHANNEL)
    general.at("2025-06-06T10:05:00Z")
    sent = record_sends(chat, monkeypatch)

    general.command("dana", f"incident engage {REF} release-managers hold deploys")

    bot = str(chat.testbot.bot.bot_identifier)
    assert [body for to, body in sent if to == bot] == [
        f"Mentioned release managers in the channel of {REF}."
    ]
    in_incident = [body for to, body in sent if to == CHANNEL]
    assert len(in_incident) == 1
    assert in_incident[0].startswith(
        f"<!subteam^S0RELMGRS> you are engaged in {REF} (S3: Checkout errors)."
    )
    assert in_incident[0].endswith("hold deploys")
    assert len(sent) == 2


# Checklist ticks


def test_checklist_tick_keeps_first_person(paging_chat: Chat) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    chat.command("alice", "incident declare S1 Checkout errors")

    missing = chat.command("alice", "incident checklist done")
    assert missing == (
        "Name the item that is done: use one of leadership, coordinator, "
        "liaison, release, comms, review."
    )

    chat.at("2025-06-06T10:05:00Z")
    quoted = chat.command("alice", 'incident checklist done "coordinator"')
    assert "- [x] Senior coordinator considered (alice at 10:05 UTC)" in quoted

    chat.at("2025-06-06T10:10:00Z")
    second = chat.command("bob", "incident checklist done coordinator")
    listing = chat.command("carol", "incident checklist")

    for text in (second, listing):
        assert "- [x] Senior coordinator considered (alice at 10:05 UTC)" in text
        assert "bob at" not in text


# The reply without PagerDuty's REST API


def test_trigger_events_only_reply(
    bot_config: dict[str, Any],
    pagerduty_sandbox: PagerDutySandbox,
    start_bot: BotFactory,
) -> None:
    bot_config["PAGERDUTY_EVENTS_URL"] = pagerduty_sandbox.url
    bot_config["PAGERDUTY_CA_BUNDLE"] = str(pagerduty_sandbox.ca_bundle)
    chat = Chat(start_bot())
    chat.at("2025-06-06T10:00:00Z")
    chat.command("alice", "incident declare S3 Checkout errors")

    reply = visible(
        chat.command("alice", "pd trigger cmoc Please post to the status page")
    )

    assert reply == (
        f"Sent the page to {CMOC} for {REF}, and PagerDuty accepted it (dedup key "
        f"{REF}:cmoc). The bot could not look up which PagerDuty incident it "
        "opened: if an alert with that key was still open, PagerDuty added this "
        "to it instead of notifying anyone again."
    )
    assert len(pagerduty_sandbox.incidents()) == 1
    assert len(pagerduty_sandbox.notifications()) == 1
