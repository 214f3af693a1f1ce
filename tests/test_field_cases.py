"""Hard inputs seen in real chat bots, through the real plugin and the sandbox.

The fixture follows one incident channel C0INC00042 with alice as the lead
and bob, carol and dave in the channel; the bot is user U0BOT00001.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat
from tests.conftest import ROOT, BotFactory

WORD_JOINER = "\u2060"
REF = "infra/production#1"


def declare(chat: Chat) -> None:
    chat.at("2025-06-06T22:10:00Z")
    reply = chat.command("alice", "incident declare S2 Replication lag on payments-db")
    assert "Declared" in reply, reply


def issue(gitlab_sandbox: GitLabSandbox) -> dict[str, Any]:
    return gitlab_sandbox.issue("infra/production", 1)


def notes(gitlab_sandbox: GitLabSandbox, *, internal: bool | None = None) -> list[str]:
    return [
        note["body"]
        for note in issue(gitlab_sandbox)["notes"]
        if internal is None or note["internal"] == internal
    ]


def visible(text: str) -> str:
    """Return text as a reader sees it: without the invisible word joiners."""
    return text.replace(WORD_JOINER, "")


# Duplicate deliveries


def test_command_delivered_twice_runs_once(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    text = "incident update Failover to replica done, 5xx rate back to 0.2%"

    first = chat.command("alice", text, ts="1733301000.000300")
    chat.send("alice", "!" + text, ts="1733301000.000300")

    assert "Status update" in first
    assert chat.no_reply()
    assert len(notes(gitlab_sandbox)) == 1


def test_repeated_delivery_after_restart(
    start_bot: BotFactory, gitlab_sandbox: GitLabSandbox
) -> None:
    chat = Chat(start_bot())
    declare(chat)
    text = "incident update Failover to replica done"
    chat.command("alice", text, ts="1733301000.000300")

    restarted = Chat(start_bot())
    restarted.at(chat.now)
    restarted.send("alice", "!" + text, ts="1733301000.000300")

    assert restarted.no_reply()
    assert len(notes(gitlab_sandbox)) == 1


def test_new_message_with_same_text_runs(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    text = "incident update Failover to replica done"

    chat.command("alice", text, ts="1733301000.000300")
    second = chat.command("alice", text, ts="1733301060.000100")

    assert "Status update" in second
    assert len(notes(gitlab_sandbox)) == 2


def test_reaction_delivered_twice_posts_once(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = chat.send("carol", "replica promoted")

    chat.react("bob", "pushpin", ts)
    chat.react("bob", "pushpin", ts)

    assert len(notes(gitlab_sandbox, internal=False)) == 1


# The bot's own messages and reactions


def test_bot_own_reaction_is_ignored(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    ts = chat.send("alice", "db-2 restarted")

    chat.react("Err", "pushpin", ts, owner="alice")

    assert notes(gitlab_sandbox) == []


def test_reaction_without_item_owner_counts(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = chat.send(
        "pagerduty",
        "",
        event={
            "subtype": "bot_message",
            "bot_id": "B0PAGERDTY",
            "text": "",
            "attachments": [{"fallback": "Triggered: payments-db replication lag"}],
        },
    )

    chat.react("bob", "pushpin", ts, owner=None)

    bodies = notes(gitlab_sandbox, internal=False)
    assert len(bodies) == 1
    assert "Triggered: payments-db replication lag" in bodies[0]


def test_bot_own_message_is_not_kept(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    ts = chat.send("Err", "Linked sre/follow-ups#7 as a follow-up")

    chat.react("bob", "pushpin", ts)

    assert notes(gitlab_sandbox) == []
    assert "no copy of that message" in chat.replies()


# Reaction names


def test_lookalike_reactions_do_nothing(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = chat.send("carol", "cache hit ratio back to 97%", ts="1733302500.000100")

    for name in ("round_pushpin", "star2", "stars"):
        chat.react("bob", name, ts)
    assert notes(gitlab_sandbox) == []

    chat.react("bob", "pushpin", ts)
    chat.react("bob", "star", ts)

    assert len(notes(gitlab_sandbox, internal=False)) == 1
    assert notes(gitlab_sandbox, internal=True) == []


def test_file_item_reaction_is_ignored(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.react("bob", "pushpin", "", item={"type": "file", "file": "F0FILE0001"})

    assert notes(gitlab_sandbox) == []
    assert chat.no_reply()


@pytest.fixture
def raised_hand_settings(tmp_path: Path) -> Path:
    text = (ROOT / "settings.example.toml").read_text()
    text = text.replace('public = ["pushpin"]', 'public = ["pushpin", "raised_hand"]')
    path = tmp_path / "reactions.toml"
    path.write_text(text)
    return path


def test_skin_tone_matches_base_name(
    bot_config: dict[str, Any],
    raised_hand_settings: Path,
    start_bot: BotFactory,
    gitlab_sandbox: GitLabSandbox,
) -> None:
    bot_config["INCIDENT_SETTINGS"] = str(raised_hand_settings)
    chat = Chat(start_bot())
    declare(chat)
    ts = chat.send("carol", "failover started")

    chat.react("bob", "raised_hand::skin-tone-4", ts)

    assert len(notes(gitlab_sandbox, internal=False)) == 1


# Removal, re-adding and several people


def test_reaction_sequence_keeps_one_note(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = "1733303000.000100"
    chat.send("carol", "db-2 restarted", ts=ts)

    chat.react("alice", "pushpin", ts)
    assert len(notes(gitlab_sandbox)) == 1
    first_note = issue(gitlab_sandbox)["notes"][0]["id"]

    chat.react("bob", "pushpin", ts)
    assert len(notes(gitlab_sandbox)) == 1

    chat.react("alice", "pushpin", ts, added=False)
    assert [n["id"] for n in issue(gitlab_sandbox)["notes"]] == [first_note]

    chat.react("bob", "pushpin", ts, added=False)
    assert notes(gitlab_sandbox) == []

    chat.send("carol", "db-2 restarted, replication caught up", ts=ts)
    chat.react("alice", "pushpin", ts)
    public = notes(gitlab_sandbox, internal=False)
    assert len(public) == 1
    assert "db-2 restarted, replication caught up" in public[0]

    chat.react("dave", "star", ts)
    assert notes(gitlab_sandbox, internal=True) == []
    assert len(notes(gitlab_sandbox)) == 1


def test_star_makes_checked_internal_note(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = chat.send("carol", "customer list attached in the ticket")

    chat.react("alice", "star", ts)

    internal = [n for n in issue(gitlab_sandbox)["notes"] if n["internal"]]
    assert len(internal) == 1
    assert "customer list attached in the ticket" in internal[0]["body"]
    assert notes(gitlab_sandbox, internal=False) == []


def test_summary_orders_pins_by_message_time(chat: Chat) -> None:
    declare(chat)
    early = chat.send("carol", "first: replica lagging", ts="1749255600.000100")
    late = chat.send("bob", "second: replica caught up", ts="1749256000.000200")

    chat.react("alice", "pushpin", late)
    chat.react("alice", "pushpin", early)
    summary = chat.command("alice", "incident summary")

    assert summary.index("first: replica lagging") < summary.index(
        "second: replica caught up"
    )


# What goes into a note


def test_note_resolves_names_and_keeps_date(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    names = {"U0CAROL003": "carol", "U0BOB00002": "bob"}
    chat.plugin.user_name = names.get
    ts = chat.send(
        "bob",
        "<@U0CAROL003> restarted db-2, <!subteam^S0DBA00001|@dba-oncall> please "
        "check replication",
        ts="1749255600.000100",
        wire=False,
        event={
            "user": "U0BOB00002",
            "text": "<@U0CAROL003> restarted db-2, <!subteam^S0DBA00001|@dba-oncall> "
            "please check replication",
            "files": [
                {"id": "F0IMG00001", "name": "p95-latency.png", "mimetype": "image/png"}
            ],
        },
    )

    chat.react("alice", "pushpin", ts)

    body = notes(gitlab_sandbox)[0]
    assert "<@" not in body
    assert "subteam" not in body
    assert "**bob** — 2025-06-07 00:20 UTC" in body
    assert "carol restarted db-2, @dba-oncall please check replication" in visible(
        body
    ).replace("@carol", "carol")
    assert "p95-latency.png" in body
    assert gitlab_sandbox.notifications == []


def test_note_from_app_attachment(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    ts = chat.send(
        "pagerduty",
        "",
        ts="1749256000.000200",
        event={
            "subtype": "bot_message",
            "bot_id": "B0PAGERDTY",
            "text": "",
            "attachments": [
                {
                    "fallback": "Triggered: payments-db replication lag > 300s",
                    "title": "payments-db replication lag",
                }
            ],
        },
    )

    chat.react("alice", "pushpin", ts)

    body = notes(gitlab_sandbox)[0]
    assert "payments-db replication lag" in body
    assert "2025-06-07 00:26 UTC" in body


def test_empty_message_makes_no_note(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)
    ts = chat.send("bob", "   ")

    chat.react("alice", "pushpin", ts)

    assert notes(gitlab_sandbox) == []
    assert "no text or attachments" in chat.replies()


def test_pinned_quick_actions_stay_inert(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = chat.send("mallory", "/close\n/label ~x")

    chat.react("bob", "pushpin", ts)

    current = issue(gitlab_sandbox)
    assert current["state"] == "opened"
    assert "x" not in current["labels"]
    assert current.get("quick_actions_run", []) == []
    assert len(notes(gitlab_sandbox)) == 1
    assert "/close" in notes(gitlab_sandbox)[0]


# Entities in, broadcasts out


def test_update_entities_decoded_once(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    reply = chat.command(
        "alice",
        "incident update p95 &gt; 2s &amp; climbing; <!here> please hold deploys",
        wire=False,
    )

    body = notes(gitlab_sandbox)[0]
    assert "p95 > 2s & climbing; @here please hold deploys" in visible(body)
    assert "@here" not in body
    assert gitlab_sandbox.notifications == []
    assert "<!here>" not in reply
    assert "@here" not in reply


def test_field_quotes_and_entities(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    chat.command(
        "alice", "incident field impact “EU &amp; US, &lt; 5% of checkouts”", wire=False
    )
    chat.command("alice", "incident field impact 'EU & US only'", wire=True)

    stored = chat.plugin.store.require(REF)
    assert stored.fields["impact"] == "EU & US only"
    history = chat.command("alice", "incident field")
    assert "EU & US only" in history


def test_curly_quoted_field_value(chat: Chat, gitlab_sandbox: GitLabSandbox) -> None:
    declare(chat)

    chat.command(
        "alice", "incident field impact “EU &amp; US, &lt; 5% of checkouts”", wire=False
    )

    stored = chat.plugin.store.require(REF)
    assert stored.fields["impact"] == "EU & US, < 5% of checkouts"
    assert "EU & US, < 5% of checkouts" in issue(gitlab_sandbox)["description"]


def test_double_encoded_text_decoded_once(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)

    chat.command("alice", "incident update literal text &amp;amp; stays", wire=False)

    assert "literal text &amp; stays" in notes(gitlab_sandbox)[0]
    stored = chat.plugin.store.require(REF)
    assert stored.updates[-1].text == "literal text &amp; stays"


def test_replies_carry_no_broadcast(chat: Chat) -> None:
    declare(chat)

    replies = [
        chat.command(
            "alice", "incident update <!channel> and <!everyone> look", wire=False
        ),
        chat.command(
            "alice",
            "incident summary causes <!subteam^S0DBA00001|@dba> broke it",
            wire=False,
        ),
        chat.command("alice", "incident summary"),
        chat.command("alice", "incident status"),
    ]

    for reply in replies:
        for token in ("<!channel>", "<!everyone>", "<!subteam", "<!here>"):
            assert token not in reply
        for word in ("@channel", "@everyone", "@dba"):
            assert word not in reply


# Output longer than Slack or GitLab accept


def test_long_summary_split_for_slack(chat: Chat) -> None:
    from datetime import timedelta

    from incidentbot.model import TimelineEntry

    declare(chat)
    with chat.plugin.store.edit(REF) as incident:
        for number in range(180):
            text = (
                f"step {number} 🔥 checked <https://grafana.example.com/d/{number}|"
                f"dashboard {number}> 👩‍💻 and the replica lag stayed above target"
            )
            incident.add_timeline(
                TimelineEntry(
                    incident.declared_at + timedelta(minutes=number),
                    text,
                    "bob",
                    "manual",
                )
            )

    chat.send("alice", "!incident summary")
    parts = _drain(chat, [chat.testbot.pop_message(timeout=15)])

    assert len(parts) >= 5
    for part in parts:
        assert len(part) <= 3900
    joined = "\n".join(parts)
    assert "step 0 " in joined
    assert "step 179 " in joined
    assert joined.index("step 17 ") < joined.index("step 170 ")


def _drain(chat: Chat, parts: list[str]) -> list[str]:
    from queue import Empty

    while True:
        try:
            parts.append(chat.testbot.pop_message(timeout=0.5))
        except Empty:
            return parts


def test_pushpin_after_star_replaces_internal(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declare(chat)
    ts = chat.send("carol", "failover done")

    chat.react("alice", "star", ts)
    assert len(notes(gitlab_sandbox, internal=True)) == 1

    chat.react("bob", "pushpin", ts)
    assert notes(gitlab_sandbox, internal=True) == []
    assert len(notes(gitlab_sandbox, internal=False)) == 1

    chat.react("bob", "pushpin", ts, added=False)
    assert notes(gitlab_sandbox, internal=False) == []
    assert len(notes(gitlab_sandbox, internal=True)) == 1
