"""IMOC duty through the real plugins, Errbot's test backend and both emulators.

The shift check prompts the person on call on the IMOC schedule now to take
over the open incidents, once per shift. A new IMOC member is reminded to
arrange a feedback chat after their first S1 or S2, once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import BOB_ID, IMOC_SCHEDULE_ID
from tests.chat import Chat, posted
from tests.conftest import BotFactory

REF = "infra/production#1"
SHIFT_PROMPT = "the IMOC shift changed and you are on call now"
FEEDBACK = "was your first S2 incident as IMOC"
# [escalation] shift_check_minutes of settings.example.toml is 5, so six
# minutes between two runs always makes the shift check due again.
PAST_SHIFT_CHECK = timedelta(minutes=6)


def shift_start() -> datetime:
    """Return a time after the bot's start, rounded to the minute.

    The plugin arms its first shift check with the real clock when it starts,
    before the test's clock is in place, so the test's times must come after
    the real time for that check to fall due.
    """
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)


def run_reminders(chat: Chat, at: datetime) -> list[str]:
    chat.at(at)
    chat.plugin.run_reminders()
    return posted(chat)


def test_shift_change_prompts_once(
    paging_chat: Chat,
    pagerduty_sandbox: PagerDutySandbox,
    start_bot: BotFactory,
) -> None:
    chat = paging_chat
    start = shift_start()
    chat.at(start)
    declared = chat.command("alice", "incident declare S2 Checkout errors")
    assert f"Declared S2 incident {REF}" in declared
    assert f"Paged Incident Manager On Call for {REF}" in declared
    assert "dana is now imoc" in chat.command("alice", "incident role imoc @dana")
    chat.at(start + timedelta(minutes=2))
    chat.command("alice", "incident update Rolled back the 10:00 deploy")
    # The first check only learns who is on call: Dana, the IMOC already.
    assert run_reminders(chat, start + timedelta(minutes=3)) == []

    pagerduty_sandbox.set_on_call(IMOC_SCHEDULE_ID, BOB_ID)
    messages: list[str] = []
    for step in range(1, 5):
        messages += run_reminders(
            chat, start + timedelta(minutes=3) + step * PAST_SHIFT_CHECK
        )
    restarted = Chat(start_bot())
    for step in range(5, 8):
        messages += run_reminders(
            restarted, start + timedelta(minutes=3) + step * PAST_SHIFT_CHECK
        )

    prompts = [message for message in messages if SHIFT_PROMPT in message]
    assert len(prompts) == 1, messages
    assert prompts[0].startswith("@bob: ")
    assert f"dana is the IMOC of {REF}" in prompts[0]
    assert "incident handover accept" in prompts[0]

    chat = restarted
    accepted_at = start + timedelta(minutes=50)
    chat.at(accepted_at)
    refused = chat.command("carol", "incident handover accept")
    assert refused == (
        f"The bot asked bob, who is on call now, to take the IMOC role of {REF} "
        "over, so only they can accept."
    )
    assert "- imoc: dana" in chat.command("alice", "incident roles")

    brief = chat.command("bob", "incident handover accept").splitlines()
    assert brief[0] == f"bob is now imoc of {REF} from dana. Brief:"
    assert brief[1] == "- Status: S2, active, declared 50 min ago: Checkout errors"
    assert (
        brief[2] == "- Last update, 48 min ago by alice: Rolled back the 10:00 deploy"
    )
    assert brief[3] == "- Open follow-ups: none"
    assert brief[4] == "- Paged: Incident Manager On Call"
    assert "- imoc: bob" in chat.command("alice", "incident roles")

    again = chat.command("bob", "incident handover accept")
    assert again.startswith(f"Nobody was asked to take the IMOC role of {REF} over.")


def test_shift_change_without_incident(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    start = shift_start()
    assert run_reminders(chat, start) == []

    pagerduty_sandbox.set_on_call(IMOC_SCHEDULE_ID, BOB_ID)

    assert run_reminders(chat, start + PAST_SHIFT_CHECK) == []
    assert run_reminders(chat, start + 2 * PAST_SHIFT_CHECK) == []


def test_shift_change_after_resolve(
    paging_chat: Chat, pagerduty_sandbox: PagerDutySandbox
) -> None:
    chat = paging_chat
    start = shift_start()
    chat.at(start)
    chat.command("alice", "incident declare S2 Checkout errors")
    assert run_reminders(chat, start + timedelta(minutes=1)) == []
    chat.command("alice", "incident resolve --force")

    pagerduty_sandbox.set_on_call(IMOC_SCHEDULE_ID, BOB_ID)
    messages = run_reminders(chat, start + timedelta(minutes=1) + PAST_SHIFT_CHECK)

    assert [message for message in messages if SHIFT_PROMPT in message] == []


def test_new_imoc_feedback_reminder_once(paging_chat: Chat) -> None:
    chat = paging_chat
    chat.at("2025-06-06T10:00:00Z")
    chat.command("alice", "incident declare S2 Checkout errors")
    chat.command("alice", "incident role imoc @dana")
    chat.at("2025-06-06T11:00:00Z")
    resolved = chat.command("alice", "incident resolve --force")
    assert f"{REF} is resolved (forced)" in resolved

    messages = run_reminders(chat, datetime(2025, 6, 6, 11, 1, tzinfo=UTC))
    messages += run_reminders(chat, datetime(2025, 6, 6, 11, 30, tzinfo=UTC))

    reminders = [message for message in messages if FEEDBACK in message]
    assert reminders == [
        f"@dana: {REF} was your first S2 incident as IMOC. Arrange a feedback chat "
        "with the engineer on call (@bob) and the communications manager on call "
        "(@erin)."
    ], messages

    chat.at("2025-06-09T09:00:00Z")
    second = chat.command("alice", "incident declare S2 Search is slow")
    assert "Declared S2 incident infra/production#2" in second
    chat.command("alice", "incident role imoc @dana")
    chat.at("2025-06-09T10:00:00Z")
    chat.command("alice", "incident resolve --force")

    later = run_reminders(chat, datetime(2025, 6, 9, 10, 1, tzinfo=UTC))
    later += run_reminders(chat, datetime(2025, 6, 9, 12, 0, tzinfo=UTC))

    assert [message for message in later if "feedback chat" in message] == []
