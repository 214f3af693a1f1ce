"""Reminders with persisted due times."""

from datetime import UTC, datetime, timedelta
from typing import Any

from incidentbot.schedule import Reminder, Schedule

START = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def test_due_reminder_runs_once_and_rearms() -> None:
    data: dict[str, Any] = {}
    clock = Clock()
    schedule = Schedule(data, clock)
    calls: list[datetime] = []
    schedule.on(
        "nudge", lambda r, now: calls.append(now) or now + timedelta(minutes=30)
    )
    schedule.set(Reminder("nudge/x", "nudge", "x", START + timedelta(minutes=15)))

    assert schedule.run_due() == 0
    clock.now = START + timedelta(minutes=15)
    assert schedule.run_due() == 1
    assert schedule.run_due() == 0

    assert calls == [START + timedelta(minutes=15)]
    reminder = schedule.get("nudge/x")
    assert reminder is not None
    assert reminder.due == START + timedelta(minutes=45)


def test_reminders_survive_a_new_schedule() -> None:
    data: dict[str, Any] = {}
    clock = Clock()
    Schedule(data, clock).set(Reminder("a", "nudge", "x", START))
    clock.now = START + timedelta(hours=3)
    restarted = Schedule(data, clock)
    calls: list[str] = []
    restarted.on("nudge", lambda r, now: calls.append(r.key) or None)

    assert restarted.run_due() == 1
    assert restarted.run_due() == 0
    assert calls == ["a"]
    assert restarted.pending() == []


def test_failing_reminder_does_not_stop_others() -> None:
    data: dict[str, Any] = {}
    clock = Clock()
    schedule = Schedule(data, clock)
    ran: list[str] = []

    def fail(reminder: Reminder, now: datetime) -> datetime | None:
        raise RuntimeError("channel is archived")

    schedule.on("fail", fail)
    schedule.on("ok", lambda r, now: ran.append(r.key) or None)
    schedule.set(Reminder("first", "fail", "x", START))
    schedule.set(Reminder("second", "ok", "x", START + timedelta(seconds=1)))
    clock.now = START + timedelta(minutes=1)

    assert schedule.run_due() == 2
    assert ran == ["second"]
    retry = schedule.get("first")
    assert retry is not None
    assert retry.due == clock.now + timedelta(minutes=5)


def test_cancelled_reminder_never_runs() -> None:
    data: dict[str, Any] = {}
    clock = Clock()
    schedule = Schedule(data, clock)
    schedule.on("nudge", lambda r, now: None)
    schedule.set(Reminder("a", "nudge", "x", START))

    assert schedule.cancel("a") is True
    assert schedule.cancel("a") is False
    assert schedule.run_due() == 0


def test_reminder_waits_for_its_handler() -> None:
    data: dict[str, Any] = {}
    clock = Clock()
    schedule = Schedule(data, clock)
    schedule.set(Reminder("review/x", "review", "x", START))

    assert schedule.run_due() == 1
    waiting = schedule.get("review/x")
    assert waiting is not None
    assert waiting.due == START + timedelta(minutes=5)

    calls: list[datetime] = []
    schedule.on("review", lambda r, now: calls.append(now) and None)
    clock.now = START + timedelta(minutes=5)
    schedule.run_due()

    assert calls == [START + timedelta(minutes=5)]
    assert schedule.get("review/x") is None
