"""Scratch exploration of the paging commands (deleted after the run)."""

from __future__ import annotations

from errbot.backends.base import Message
from errbot.backends.test import TestPerson

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from tests.chat import Chat, posted, slack_wire, visible

REF = "infra/production#1"


def dm(chat: Chat, user: str, text: str) -> str:
    bot = chat.testbot.bot
    message = Message(
        slack_wire("!" + text),
        frm=TestPerson(user),
        to=bot.bot_identifier,
        extras={"ts": "1749200000.%06d" % (hash(text) % 999999)},
    )
    bot.callback_message(message)
    return chat.replies()


def show(label: str, text: str) -> None:
    print(f"\n=== {label}\n{visible(text)}")


def test_odd_arguments(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox, gitlab_sandbox: GitLabSandbox
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    show("declare", chat.command("alice", "incident declare S3 Checkout errors"))
    cases = [
        "pd trigger",
        "pd trigger    ",
        'pd trigger "Communications Manager On Call Please post',
        "pd trigger “Communications Manager On Call” curly quoted",
        "pd trigger 'cmoc's team please",
        "pd trigger Ünïcødé Serviçe hello",
        "pd trigger cmoc",
        "pd trigger CMOC upper case",
        "pd trigger communications manager on call unquoted name",
        "pd trigger infra/production#1 eoc named own ref",
        "pd trigger infra/production#9 eoc named other ref",
        "pd services extra words",
        "pd trigger imoc manual imoc page",
        'incident escalate "dotcom leadership escalation',
        'incident escalate "dotcom leadership escalation"',
        "incident escalate    ",
        "incident escalate leadership     ",
        "incident engage",
        "incident engage    ",
        "incident engage release managers unquoted display",
        "incident engage 'release-managers",
        "incident handover",
        "incident handover imoc",
        "incident handover @alice",
        "incident handover lead @alice",
        "incident handover @",
        "incident handover lead @",
        "incident handover accept",
        "incident handover ACCEPT now",
        "incident handover comms @bob",
        "incident handover imoc @bob note for bob",
        "incident handover @bob second",
        "incident handover imoc @bob again to bob",
        "incident handover imoc bob",
        "incident handover lead @here",
        "incident checklist",
        "incident checklist done",
        "incident checklist done leadership",
        "incident checklist done leadership",
        'incident checklist done "coordinator"',
        "incident checklist done LEADERSHIP extra",
        "incident checklist undo leadership",
    ]
    for case in cases:
        chat.at("2025-06-06T10:05:00Z")
        show(case, chat.command("dana" if "handover" in case else "alice", case))
    show("roles", chat.command("alice", "incident roles"))
    for event in pagerduty_sandbox.events:
        print("EVENT", event["dedup_key"], event["payload"]["summary"])
    for inc in pagerduty_sandbox.incidents():
        print("PDINC", inc["incident_number"], inc["title"], inc["incident_key"])
    description = gitlab_sandbox.issue("infra/production", 1)["description"]
    print(description.split("## Timeline", 1)[1][:3000])


def test_dm_and_other_channel(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    show("declare", chat.command("alice", "incident declare S3 Checkout errors"))
    show("dm carol no ref", dm(chat, "carol", "pd trigger cmoc hello"))
    show("dm carol ref", dm(chat, "carol", f"pd trigger {REF} cmoc hello"))
    show("dm dana ref", dm(chat, "dana", f"pd trigger {REF} cmoc from dana dm"))
    show("dm dana engage", dm(chat, "dana", f"incident engage {REF} release-managers x"))
    show("dm dana escalate", dm(chat, "dana", f"incident escalate {REF} leadership y"))
    show("dm dana checklist", dm(chat, "dana", f"incident checklist {REF}"))
    show(
        "dm dana checklist done",
        dm(chat, "dana", f"incident checklist {REF} done coordinator"),
    )
    show("dm dana handover", dm(chat, "dana", f"incident handover {REF} lead @bob hi"))
    show("dm pd services", dm(chat, "zed", "pd services"))
    show("dm escalate list", dm(chat, "zed", "incident escalate"))
    print("NOTIFY", pagerduty_sandbox.notifications())
    print("EVENTS", [e["dedup_key"] for e in pagerduty_sandbox.events])
