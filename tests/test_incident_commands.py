"""Incident commands through the real plugin, Errbot's test backend and the sandbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentbot.description import SECTION_ORDER, end_marker, start_marker
from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat
from tests.conftest import ROOT, BotFactory

CHANNEL = "C0INC00042"


def declare(chat: Chat, text: str = "S2 Checkout errors") -> str:
    chat.at("2025-06-06T22:10:00Z")
    reply = chat.command("alice", f"incident declare {text}")
    assert "Declared" in reply, reply
    return "infra/production#1"


def only_issue(gitlab_sandbox: GitLabSandbox) -> dict[str, Any]:
    return gitlab_sandbox.issue("infra/production", 1)


def test_declare_creates_labelled_incident(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    reply = chat.command("alice", "incident declare S2 Checkout errors")

    issue = only_issue(gitlab_sandbox)
    assert issue["title"] == "Checkout errors"
    assert issue["issue_type"] == "incident"
    assert set(issue["labels"]) == {"Incident::Active", "severity::2"}
    assert issue["web_url"] in reply
    assert "infra/production#1" in reply
    for section in SECTION_ORDER:
        assert start_marker(section) in issue["description"]
        assert end_marker(section) in issue["description"]


def test_declare_without_severity_uses_default(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    chat.command("alice", "incident declare Search is slow")

    assert "severity::3" in only_issue(gitlab_sandbox)["labels"]


def test_declare_with_invalid_severity(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    reply = chat.command("alice", "incident declare S9 Checkout errors")

    assert "Invalid severity 'S9'" in reply
    assert "S1, S2, S3, S4" in reply
    assert gitlab_sandbox.issues("infra/production") == []


def test_declare_without_title(chat: Chat) -> None:
    reply = chat.command("alice", "incident declare S2")

    assert "needs a title" in reply


def test_second_declare_in_same_channel(chat: Chat) -> None:
    declare(chat)

    reply = chat.command("bob", "incident declare S1 Another one")

    assert "already belongs to infra/production#1" in reply


def test_update_posts_note_and_status(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    chat.at("2025-06-07T00:20:00Z")

    reply = chat.command("alice", "incident update Failover done, errors back to 0.2%")

    issue = only_issue(gitlab_sandbox)
    notes = [n["body"] for n in issue["notes"]]
    assert len(notes) == 1
    assert notes[0].startswith("**Status update** by alice — 2025-06-07 00:20 UTC")
    assert "Failover done, errors back to 0.2%" in notes[0]
    assert "Failover done, errors back to 0.2%" in issue["description"]
    assert "Failover done" in reply


def test_update_keeps_people_text_in_description(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    issue = only_issue(gitlab_sandbox)
    gitlab_sandbox.edit_issue_directly(
        "infra/production",
        1,
        description=issue["description"] + "\n\nRunbook: see wiki",
    )

    chat.command("alice", "incident update Rolling back")

    description = only_issue(gitlab_sandbox)["description"]
    assert "Runbook: see wiki" in description
    assert "Rolling back" in description


def test_command_outside_incident_channel(chat: Chat) -> None:
    reply = chat.command("alice", "incident update hello")

    assert "This channel has no incident" in reply
    assert "incident status infra/production#12" in reply


def test_command_names_incident_from_elsewhere(
    chat: Chat, start_bot: BotFactory
) -> None:
    declare(chat)
    other = Chat(chat.testbot, channel="C0OTHER0001")

    reply = other.command("bob", "incident status infra/production#1")

    assert "infra/production#1 — Checkout errors" in reply
    assert "severity S2" in reply


def test_unknown_subcommand(chat: Chat) -> None:
    reply = chat.command("alice", "incident frobnicate now")

    assert "Unknown command 'incident frobnicate'" in reply
    assert "!incident update" in reply


def test_field_label_replaces_old_value(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.command("alice", "incident field service Sidekiq")
    reply = chat.command("alice", "incident field service Container Registry")

    labels = only_issue(gitlab_sandbox)["labels"]
    assert "Service::Container Registry" in labels
    assert "Service::Sidekiq" not in labels
    assert "was Sidekiq" in reply


def test_field_with_choices(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    bad = chat.command("alice", "incident field root_cause Gremlins")
    good = chat.command("alice", "incident field root_cause software-change")

    assert "Invalid root_cause 'Gremlins'" in bad
    assert "Software-Change" in bad
    assert "RootCause::Software-Change" in only_issue(gitlab_sandbox)["labels"]
    assert "now Software-Change" in good


def test_field_unknown_name(chat: Chat) -> None:
    declare(chat)

    reply = chat.command("alice", "incident field colour red")

    assert "Unknown field 'colour'" in reply
    assert "service" in reply


def test_field_listing_puts_missing_first(chat: Chat) -> None:
    declare(chat)

    reply = chat.command("alice", "incident field")

    assert reply.index("Missing:") < reply.index("- service (required)")
    assert reply.index("- service (required)") < reply.index("- impact")


def test_confidential_field_sets_flag(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.command("alice", "incident field confidential true")
    assert only_issue(gitlab_sandbox)["confidential"] is True

    chat.command("alice", "incident field confidential false")
    assert only_issue(gitlab_sandbox)["confidential"] is False

    reply = chat.command("alice", "incident field confidential maybe")
    assert "Invalid confidential 'maybe'" in reply


def test_severity_change_swaps_label_on_free_tier(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat, "S3 Push mirrors failing")

    reply = chat.command("alice", "incident field severity S2")

    labels = only_issue(gitlab_sandbox)["labels"]
    assert "severity::2" in labels
    assert "severity::3" not in labels
    assert "severity is now S2" in reply.replace(" of infra/production#1", "")


def test_severity_change_on_premium_tier(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    gitlab_sandbox.tier = "premium"
    declare(chat, "S3 Push mirrors failing")

    chat.command("alice", "incident field severity 1")

    labels = only_issue(gitlab_sandbox)["labels"]
    assert [label for label in labels if label.startswith("severity::")] == [
        "severity::1"
    ]


def test_summary_sections_and_show(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    chat.command("alice", "incident summary impact Checkout failed for 5% of users")
    bad = chat.command("alice", "incident summary effects none")
    shown = chat.command("alice", "incident summary")

    assert (
        "Checkout failed for 5% of users" in only_issue(gitlab_sandbox)["description"]
    )
    assert "Unknown summary section 'effects'" in bad
    assert "Impact: Checkout failed for 5% of users" in shown
    assert "Causes: not written yet" in shown


def test_impact_times(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    start = chat.command("alice", "incident impact start 2025-06-06T21:55:00Z")
    bad_end = chat.command("alice", "incident impact end 2025-06-06T21:00:00Z")
    hhmm = chat.command("alice", "incident impact end 22:05")
    wrong = chat.command("alice", "incident impact end yesterday-ish")

    assert "2025-06-06 21:55 UTC" in start
    assert "cannot end before it started" in bad_end
    assert "2025-06-06 22:05 UTC" in hhmm
    assert "invalid time 'yesterday-ish'" in wrong.lower()
    description = only_issue(gitlab_sandbox)["description"]
    assert "**Customer impact start:** 2025-06-06 21:55 UTC" in description
    assert "**Customer impact end:** 2025-06-06 22:05 UTC" in description


def test_timeline_add_and_show(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    chat.command(
        "alice", "incident timeline add 2025-06-06T21:40:00Z Deploy of v4.29.0"
    )
    chat.command("alice", "incident timeline add Rollback started")
    shown = chat.command("alice", "incident timeline")

    assert shown.index("Deploy of v4.29.0") < shown.index("Incident declared")
    assert shown.index("Incident declared") < shown.index("Rollback started")
    events = only_issue(gitlab_sandbox)["timeline_events"]
    assert any(event["note"] == "Deploy of v4.29.0" for event in events)


def test_roles_assign_and_list(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    chat.command("alice", "incident role comms @erin")
    bad = chat.command("alice", "incident role boss @erin")
    roles = chat.command("bob", "incident roles")

    assert "Unknown role 'boss'" in bad
    assert "- lead: alice" in roles
    assert "- comms: erin" in roles
    assert "- imoc: nobody" in roles
    assert "comms: erin" in only_issue(gitlab_sandbox)["description"]


def test_list_shows_open_incidents(chat: Chat) -> None:
    declare(chat)

    reply = chat.command("bob", "incident list")

    assert "infra/production#1 S2 active, lead alice" in reply


def test_resolve_lists_what_is_missing(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    chat.command("alice", "incident field service Sidekiq")

    reply = chat.command("alice", "incident resolve")

    assert "cannot be resolved yet" in reply
    for missing in (
        "summary summary",
        "impact start",
        "impact end",
        "field root_cause",
    ):
        assert missing in reply
    assert "field service" not in reply
    assert only_issue(gitlab_sandbox)["state"] == "opened"


def test_resolve_force_records_it(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    reply = chat.command("alice", "incident resolve --force")

    issue = only_issue(gitlab_sandbox)
    assert "resolved (forced)" in reply
    assert issue["state"] == "closed"
    assert "Incident::Resolved" in issue["labels"]
    assert "Incident::Active" not in issue["labels"]
    assert "forced; missing:" in issue["description"]


def test_mitigate_then_resolve(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    for command in (
        "incident field service Sidekiq",
        "incident field root_cause Config-Change",
        "incident summary summary A bad config",
        "incident summary impact Checkout errors",
        "incident summary causes A typo",
        "incident impact start 21:50",
        "incident impact end 22:05",
    ):
        chat.command("alice", command)

    mitigated = chat.command("alice", "incident mitigate")
    labels = only_issue(gitlab_sandbox)["labels"]
    again = chat.command("alice", "incident mitigate")
    resolved = chat.command("alice", "incident resolve")

    assert "is mitigated" in mitigated
    assert "Incident::Mitigated" in labels
    assert "Incident::Active" not in labels
    assert "already mitigated" in again
    assert "is resolved and its issue is closed" in resolved
    assert only_issue(gitlab_sandbox)["state"] == "closed"


def test_attach_existing_incident(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    gitlab_sandbox.create_issue_directly(
        "infra/production",
        title="Registry slow",
        issue_type="incident",
        labels=["severity::1", "Service::Registry"],
    )
    url = only_issue(gitlab_sandbox)["web_url"]

    reply = chat.command("alice", f"incident attach {url}")
    status = chat.command("alice", "incident status")

    assert "now runs infra/production#1" in reply
    assert "severity S1" in status
    stored = chat.plugin.store.require("infra/production#1")
    assert stored.fields["service"] == "Registry"


def test_attach_rejects_plain_issue(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    gitlab_sandbox.create_issue_directly("infra/production", title="A bug")
    url = only_issue(gitlab_sandbox)["web_url"]

    reply = chat.command("alice", f"incident attach {url}")

    assert "is an issue, not an incident" in reply


def test_attach_broken_link(chat: Chat) -> None:
    reply = chat.command("alice", "incident attach https://gitlab.example.invalid/x")

    assert "https://gitlab.example.invalid/x" in reply


def test_gitlab_500_leaves_store_unchanged(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    gitlab_sandbox.fail_next("PUT", r"/issues/\d+$", 500, times=20)

    reply = chat.command("alice", "incident update Rolling back")

    assert "500" in reply
    assert "The bot recorded nothing. Run the command again once GitLab" in reply
    stored = chat.plugin.store.require("infra/production#1")
    assert stored.updates == []
    assert only_issue(gitlab_sandbox)["notes"] == []

    gitlab_sandbox.fail_next("PUT", r"/issues/\d+$", 500, times=0)
    again = chat.command("alice", "incident update Rolling back")
    assert "Status update for infra/production#1" in again
    assert len(only_issue(gitlab_sandbox)["notes"]) == 1


@pytest.fixture
def slow_settings(tmp_path: Path) -> Path:
    text = (ROOT / "settings.example.toml").read_text()
    text = text.replace("request_timeout = 10", "request_timeout = 1")
    text = text.replace("max_retries = 3", "max_retries = 1")
    path = tmp_path / "slow.toml"
    path.write_text(text)
    return path


def test_gitlab_timeout_names_the_wait(
    bot_config: dict[str, Any],
    slow_settings: Path,
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    bot_config["INCIDENT_SETTINGS"] = str(slow_settings)
    chat = Chat(start_bot())
    declare(chat)
    gitlab_sandbox.delay_next("POST", r"/notes$", 3.0, times=5)

    reply = chat.command("alice", "incident update Rolling back")

    assert "did not answer within 1" in reply
    assert "look at the issue before running the command again" in reply
    assert chat.plugin.store.require("infra/production#1").updates == []


def test_update_reminder_follows_cadence(chat: Chat) -> None:
    declare(chat)
    plugin = chat.plugin

    chat.now += timedelta(minutes=29)
    plugin.run_reminders()
    assert chat.no_reply()

    chat.now += timedelta(minutes=2)
    plugin.run_reminders()
    reminder = chat.replies()
    assert (
        "alice: the last status update for infra/production#1 was 31 min ago"
        in reminder
    )
    assert "every 30 min" in reminder

    plugin.run_reminders()
    assert chat.no_reply()

    chat.command("alice", "incident update Still investigating")
    chat.now += timedelta(minutes=29)
    plugin.run_reminders()
    assert chat.no_reply()

    chat.command("alice", "incident mitigate")
    chat.now += timedelta(hours=2)
    plugin.run_reminders()
    assert chat.no_reply()


def test_reminder_survives_restart(start_bot: BotFactory) -> None:
    chat = Chat(start_bot())
    declare(chat, "S1 Everything is down")

    restarted = Chat(start_bot())
    restarted.at(chat.now + timedelta(minutes=40))
    restarted.plugin.run_reminders()

    reminder = restarted.replies()
    assert "infra/production#1 was 40 min ago" in reminder
    assert "every 15 min" in reminder


def test_s4_has_no_reminder(chat: Chat) -> None:
    declare(chat, "S4 Typo on status page")

    chat.now += timedelta(days=1)
    chat.plugin.run_reminders()

    assert chat.no_reply()


def test_confidential_declare_hides_title(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    reply = chat.command("alice", "incident declare S1 --confidential Leaked API keys")
    other = Chat(chat.testbot, channel="C0OTHER0001")

    listing = other.command("bob", "incident list")
    status = other.command("bob", "incident status infra/production#1")
    elsewhere = [
        other.command("bob", f"incident {command} infra/production#1")
        for command in ("summary", "timeline", "field", "roles")
    ]
    elsewhere.append(other.command("bob", "incident update infra/production#1 leak"))
    own = chat.command("alice", "incident status")

    issue = only_issue(gitlab_sandbox)
    assert "Declared S1 incident" in reply
    assert issue["confidential"] is True
    assert issue["title"] == "Leaked API keys"
    assert "Leaked API keys" not in listing
    assert "infra/production#1 S1 active" in listing
    assert "is confidential" in status
    assert "Leaked API keys" not in status
    for reply in elsewhere:
        assert "is confidential, so commands about it work only in its own" in reply
    assert issue["notes"] == []
    assert "Leaked API keys" in own


def test_other_plugin_reads_store(
    bot_config: dict[str, Any], gitlab_sandbox: GitLabSandbox
) -> None:
    from errbot.backends.test import TestBot

    bot = TestBot(
        extra_plugin_dir=[
            str(ROOT / "plugins"),
            str(ROOT / "tests" / "plugins" / "peek"),
        ],
        extra_config=dict(bot_config),
    )
    bot.start(timeout=10)
    try:
        chat = Chat(bot)
        declare(chat)

        reply = chat.command("bob", "peek infra/production#1")
    finally:
        bot.stop()

    assert reply == "Checkout errors, lead alice"


def test_command_naming_other_incident_rejected(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    other = Chat(chat.testbot, channel="C0OTHER0001")
    other.command("bob", "incident declare S3 Search slow")

    update = chat.command("alice", "incident update infra/production#2 is unrelated")
    mitigate = chat.command("alice", "incident mitigate infra/production#2")
    own = chat.command("alice", "incident status infra/production#1")

    assert "This channel runs infra/production#1, not infra/production#2" in update
    assert "This channel runs infra/production#1" in mitigate
    assert "infra/production#1 — Checkout errors" in own
    for iid in (1, 2):
        issue = gitlab_sandbox.issue("infra/production", iid)
        assert issue["notes"] == []
        assert "Incident::Active" in issue["labels"]


def test_update_naming_unknown_issue_is_text(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.command("alice", "incident update product/backend#24206 is the cause")

    notes = only_issue(gitlab_sandbox)["notes"]
    assert "product/backend#24206 is the cause" in notes[0]["body"]


@pytest.mark.parametrize(
    ("text", "severity", "title"),
    [
        ("2 nodes down", "S3", "2 nodes down"),
        ("S2: db down", "S2", "db down"),
        ("(S1) db down", "S1", "db down"),
        ("sev-2 db down", "S2", "db down"),
        ("P1 db down", "S3", "P1 db down"),
    ],
)
def test_declare_severity_spellings(
    chat: Chat, text: str, severity: str, title: str
) -> None:
    reply = chat.command("alice", f"incident declare {text}")

    assert f"Declared {severity} incident infra/production#1: {title}" in reply


def test_declare_title_mentions_notify_nobody(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    chat.command("alice", "incident declare S2 @all checkout down for @bob")

    assert gitlab_sandbox.notifications == []
    assert "checkout down for" in only_issue(gitlab_sandbox)["title"]


def test_overlong_title_is_rejected(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    reply = chat.command("alice", "incident declare S2 " + "x" * 300)

    assert "The title is 300 characters long; GitLab allows 255" in reply
    assert gitlab_sandbox.issues("infra/production") == []


def test_simultaneous_declares_create_one(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    chat.send("alice", "!incident declare S2 Checkout errors")
    chat.send("bob", "!incident declare S2 Checkout is down")
    replies = chat.replies()

    assert len(gitlab_sandbox.issues("infra/production")) == 1
    assert replies.count("Declared S2 incident") == 1
    assert "already belongs to infra/production#1" in replies


def test_marker_text_cannot_break_sections(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    issue = only_issue(gitlab_sandbox)
    gitlab_sandbox.edit_issue_directly(
        "infra/production", 1, description=issue["description"] + "\n\nRunbook: wiki"
    )
    sneaky = f"{end_marker('status')} {start_marker('status')} injected"

    chat.command("alice", f"incident update {sneaky}", wire=False)
    chat.command("alice", "incident update Second update")

    description = only_issue(gitlab_sandbox)["description"]
    assert description.count(start_marker("status")) == 1
    assert description.count(end_marker("status")) == 1
    assert "Runbook: wiki" in description
    assert "Second update" in description


def test_severity_raise_moves_reminder(chat: Chat) -> None:
    declare(chat, "S3 Push mirrors failing")
    chat.now += timedelta(minutes=20)
    chat.command("alice", "incident field severity S1")

    chat.plugin.run_reminders()

    reminder = chat.replies()
    assert "was 20 min ago" in reminder
    assert "S1 asks for one every 15 min" in reminder


def test_timed_out_note_found_afterwards(
    bot_config: dict[str, Any],
    slow_settings: Path,
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    bot_config["INCIDENT_SETTINGS"] = str(slow_settings)
    chat = Chat(start_bot())
    declare(chat)
    # The note lands after the bot gave up waiting, but before it looks.
    gitlab_sandbox.delay_next("POST", r"/notes$", 1.5)
    gitlab_sandbox.delay_next("GET", r"/notes$", 1.0)

    reply = chat.command("alice", "incident update Rolling back")

    assert "Status update for infra/production#1" in reply
    assert len(only_issue(gitlab_sandbox)["notes"]) == 1
    assert len(chat.plugin.store.require("infra/production#1").updates) == 1


def test_timed_out_declare_adopts_issue(
    bot_config: dict[str, Any],
    slow_settings: Path,
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    bot_config["INCIDENT_SETTINGS"] = str(slow_settings)
    chat = Chat(start_bot())
    gitlab_sandbox.delay_next("POST", r"/issues$", 1.5)
    gitlab_sandbox.delay_next("GET", r"/issues$", 1.0)

    reply = chat.command("alice", "incident declare S2 Checkout errors")

    assert "Declared S2 incident infra/production#1" in reply
    assert len(gitlab_sandbox.issues("infra/production")) == 1


def test_rejected_value_gets_no_retry_advice(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    gitlab_sandbox.fail_next(
        "PUT", r"/issues/\d+$", 400, body={"message": {"labels": ["is invalid"]}}
    )

    reply = chat.command("alice", "incident field service Sidekiq")

    assert "400" in reply
    assert "Check the values in the command" in reply
    assert "run the command again once" not in reply


@pytest.mark.parametrize(
    ("text", "stamp", "entry"),
    [
        ("Now we know the cause", "2025-06-06 22:10 UTC", "Now we know the cause"),
        ("21:40 deploy started", "2025-06-06 21:40 UTC", "deploy started"),
        ("2025-06-06 21:05 deploy", "2025-06-06 21:05 UTC", "deploy"),
        ("2025-06-06T20:55:00Z page sent", "2025-06-06 20:55 UTC", "page sent"),
    ],
)
def test_timeline_add_reads_leading_time(
    chat: Chat, text: str, stamp: str, entry: str
) -> None:
    declare(chat)

    reply = chat.command("alice", f"incident timeline add {text}")

    assert f"at {stamp}: {entry}" in reply


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("incident timeline add 25:00 restart", "Invalid time '25:00'"),
        ("incident timeline add 2031-01-01T10:00Z later", "it is in the future"),
        ("incident impact start 2031-01-01T10:00:00Z", "it is in the future"),
    ],
)
def test_bad_times_are_rejected(chat: Chat, command: str, message: str) -> None:
    declare(chat)

    reply = chat.command("alice", command)

    assert message in reply
    assert chat.plugin.store.require("infra/production#1").impact_start is None


def test_issue_closed_on_gitlab_stops_reminders(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    gitlab_sandbox.edit_issue_directly("infra/production", 1, state_event="close")

    mitigate = chat.command("alice", "incident mitigate")
    chat.now += timedelta(minutes=31)
    chat.plugin.run_reminders()
    notice = chat.replies()
    chat.now += timedelta(hours=2)
    chat.plugin.run_reminders()

    assert "was closed on GitLab. Reopen it there" in mitigate
    assert "Incident::Mitigated" not in only_issue(gitlab_sandbox)["labels"]
    assert "closed on GitLab, so the bot stopped asking" in notice
    assert chat.no_reply()
    assert chat.plugin.store.require("infra/production#1").state == "resolved"


def test_corrected_impact_start_keeps_one_event(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.command("alice", "incident impact start 21:00")
    chat.command("alice", "incident impact start 20:30")

    events = only_issue(gitlab_sandbox)["timeline_events"]
    starts = [event for event in events if "Start time" in event["tags"]]
    assert len(starts) == 1
    assert starts[0]["occurredAt"].startswith("2025-06-06T20:30")


def test_role_needs_one_person(chat: Chat) -> None:
    declare(chat)

    reply = chat.command("alice", "incident role comms @erin and @frank")

    assert "Invalid person 'erin and @\u2060frank'" in reply
    assert "comms" not in chat.plugin.store.require("infra/production#1").roles


def test_resolved_incident_messages_forgotten_later(chat: Chat) -> None:
    declare(chat)
    ts = chat.send("carol", "db-2 is back")
    chat.command("alice", "incident resolve --force")
    store = chat.plugin.store
    assert store.message("C0INC00042", ts) is not None

    chat.now += timedelta(days=8)
    chat.plugin.run_reminders()

    assert store.message("C0INC00042", ts) is None


def test_missing_gitlab_settings_explained(
    bot_config: dict[str, Any], start_bot: BotFactory
) -> None:
    bot_config["GITLAB_TOKEN"] = None
    chat = Chat(start_bot())

    reply = chat.command("alice", "incident declare S2 Checkout errors")

    assert "incident commands are off because GITLAB_URL or GITLAB_TOKEN" in reply
