"""Follow-up review reminders on the lead's business calendar, through the real plugins.

Errbot's test backend runs the Incident and Followups plugins against the
GitLab sandbox, with the calendar of settings.example.toml: Europe/Berlin,
German public holidays, end of day 17:00. A follow-up linked at time T is
due for review at 17:00 Berlin time on the next business day after T's
Berlin date, once the incident is resolved. The tests move the bot's clock
and run the scheduler the way its poller does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from queue import Empty
from zoneinfo import ZoneInfo

import holidays
import pytest

from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat
from tests.conftest import BotFactory

BERLIN = ZoneInfo("Europe/Berlin")
REF = "infra/production#1"
FOLLOW_UPS = "sre/follow-ups"
WORD_JOINER = "\u2060"


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def visible(text: str) -> str:
    return text.replace(WORD_JOINER, "")


def resolved_incident(chat: Chat, at: datetime) -> None:
    """Declare an S3 incident an hour before `at` and resolve it."""
    chat.at(at - timedelta(hours=1))
    assert "Declared" in chat.command("alice", "incident declare S3 Slow search")
    reply = chat.command("alice", "incident resolve --force")
    assert "is resolved" in reply, reply


def paste(chat: Chat, gitlab: GitLabSandbox, at: datetime, *iids: int) -> None:
    """Paste links to sre/follow-ups issues at `at`, creating them first."""
    existing = len(gitlab.issues(FOLLOW_UPS))
    for iid in range(existing + 1, max(iids) + 1):
        gitlab.create_issue_directly(FOLLOW_UPS, title=f"Cache fix {iid}")
    chat.at(at)
    links = " ".join(f"{gitlab.url}/{FOLLOW_UPS}/-/issues/{iid}" for iid in iids)
    chat.send("bob", f"follow-ups: {links}")
    assert "Linked" in chat.replies()


def run_reminders(chat: Chat, at: datetime) -> list[str]:
    """Run the scheduler at `at` and return what the bot posted."""
    chat.at(at)
    chat.plugin.run_reminders()
    posted: list[str] = []
    while True:
        try:
            posted.append(chat.testbot.pop_message(timeout=0))
        except Empty:
            return posted


def posts_between(
    chat: Chat, start: datetime, end: datetime, extra: tuple[datetime, ...] = ()
) -> list[tuple[datetime, str]]:
    """Run the scheduler every hour from start to end (and at `extra` times).

    Returns each post with the time the scheduler ran.
    """
    times = set(extra)
    at = start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while at <= end:
        times.add(at)
        at += timedelta(hours=1)
    found: list[tuple[datetime, str]] = []
    for at in sorted(times):
        found.extend((at, text) for text in run_reminders(chat, at))
    return found


def is_business_day(at: datetime) -> bool:
    day = at.astimezone(BERLIN).date()
    return day.weekday() < 5 and day not in holidays.country_holidays("DE")


# Deadlines across weekends, holidays and the time zone


@pytest.mark.parametrize(
    ("linked", "deadline", "imoc_deadline"),
    [
        ("2025-05-31 10:00", "2025-06-02 17:00", "2025-06-03 17:00"),
        ("2025-06-06 16:00", "2025-06-10 17:00", "2025-06-11 17:00"),
        ("2025-12-24 11:00", "2025-12-29 17:00", "2025-12-30 17:00"),
        ("2025-06-03 00:30", "2025-06-04 17:00", "2025-06-05 17:00"),
    ],
    ids=["saturday", "whit-monday", "christmas", "after-midnight"],
)
def test_reminders_fire_at_deadline(
    chat: Chat,
    gitlab_sandbox: GitLabSandbox,
    linked: str,
    deadline: str,
    imoc_deadline: str,
) -> None:
    linked_at, due, overdue = berlin(linked), berlin(deadline), berlin(imoc_deadline)
    resolved_incident(chat, linked_at)
    paste(chat, gitlab_sandbox, linked_at, 1)

    review = chat.command("alice", "followup review")
    posts = posts_between(
        chat,
        linked_at,
        overdue + timedelta(days=3),
        extra=(due - timedelta(seconds=1), due, overdue - timedelta(seconds=1)),
    )

    utc = due.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")
    assert f"{FOLLOW_UPS}#1: lacks" in review
    local = due.strftime("%Y-%m-%d %H:%M")
    assert f"(due {utc}, {local} Europe/Berlin)" in review
    assert [at for at, _ in posts] == [due, overdue]
    assert all(is_business_day(at) for at, _ in posts)
    lead, imoc = (visible(text) for _, text in posts)
    assert lead.startswith(f"@alice: The follow-up review is due for {REF}")
    assert f"\n{FOLLOW_UPS}#1: lacks a team or group label" in lead
    assert imoc.startswith(f"@alice: The follow-up review is overdue for {REF}")


def complete(chat: Chat, gitlab: GitLabSandbox, iid: int) -> None:
    """Give a follow-up what review requires besides context: a team label, an owner."""
    gitlab.add_user("bob", "Bob Baker")
    gitlab.add_label(FOLLOW_UPS, "team::Search")
    label = chat.command("alice", f"followup label {FOLLOW_UPS}#{iid} team::Search")
    owner = chat.command("alice", f"followup owner {FOLLOW_UPS}#{iid} @bob")
    assert label.startswith("Added team::Search"), label
    assert owner.endswith("is now owned by bob."), owner


def test_reviewed_followup_gets_no_reminder(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    linked_at = berlin("2025-06-06 16:00")
    resolved_incident(chat, linked_at)
    paste(chat, gitlab_sandbox, linked_at, 1)
    chat.at(berlin("2025-06-10 09:00"))
    complete(chat, gitlab_sandbox, 1)

    review = chat.command("alice", "followup review")
    posts = posts_between(chat, berlin("2025-06-10 09:00"), berlin("2025-06-13 18:00"))

    assert review == f"Review of the follow-ups of {REF}:\n1. {FOLLOW_UPS}#1: complete"
    assert posts == []


def test_triaged_added_followup_not_reminded(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    linked_at = berlin("2025-06-06 16:00")
    resolved_incident(chat, linked_at)
    chat.at(linked_at)
    added = chat.command("alice", "followup add Alert on cache hit ratio")
    before = chat.command("alice", "followup review")
    chat.at(berlin("2025-06-10 09:00"))
    moved = chat.command("alice", f"followup move 1 {FOLLOW_UPS}")
    complete(chat, gitlab_sandbox, 1)

    posts = posts_between(chat, berlin("2025-06-10 09:00"), berlin("2025-06-13 18:00"))

    assert added.startswith("Created infra/incident-follow-ups#1"), added
    assert "still in the triage project infra/incident-follow-ups" in before
    assert moved == f"infra/incident-follow-ups#1 moved to {FOLLOW_UPS}#1."
    assert posts == []


def test_reminder_lists_only_unreviewed(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    linked_at = berlin("2025-06-06 16:00")
    resolved_incident(chat, linked_at)
    paste(chat, gitlab_sandbox, linked_at, 1, 2)
    chat.at(berlin("2025-06-10 09:00"))
    complete(chat, gitlab_sandbox, 1)

    posts = run_reminders(chat, berlin("2025-06-10 17:00"))

    assert len(posts) == 1
    assert f"{FOLLOW_UPS}#2: lacks" in posts[0]
    assert f"{FOLLOW_UPS}#1" not in posts[0]


# Restarts


def test_restart_keeps_reminder_once(
    start_bot: BotFactory, gitlab_sandbox: GitLabSandbox
) -> None:
    chat = Chat(start_bot())
    linked_at = berlin("2025-06-04 12:00")
    resolved_incident(chat, linked_at)
    paste(chat, gitlab_sandbox, linked_at, 1)
    due = berlin("2025-06-05 17:00")

    restarted = Chat(start_bot())
    early = run_reminders(restarted, due - timedelta(seconds=1))
    on_time = run_reminders(restarted, due)
    again = run_reminders(restarted, due + timedelta(minutes=30))
    after_second_restart = Chat(start_bot())
    later = run_reminders(after_second_restart, due + timedelta(hours=2))

    assert early == []
    assert len(on_time) == 1
    assert visible(on_time[0]).startswith(
        f"@alice: The follow-up review is due for {REF}"
    )
    assert again == []
    assert later == []


def test_active_incident_gets_no_reminder(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    linked_at = berlin("2025-06-04 12:00")
    chat.at(linked_at - timedelta(hours=1))
    assert "Declared" in chat.command("alice", "incident declare S4 Slow search")
    paste(chat, gitlab_sandbox, linked_at, 1)

    posts = posts_between(chat, linked_at, berlin("2025-06-09 18:00"))

    assert posts == []


def test_closed_on_gitlab_starts_review_clock(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    linked_at = berlin("2025-06-04 12:00")
    chat.at(linked_at - timedelta(hours=1))
    assert "Declared" in chat.command("alice", "incident declare S4 Slow search")
    paste(chat, gitlab_sandbox, linked_at, 1)
    gitlab_sandbox.edit_issue_directly("infra/production", 1, state_event="close")

    posts = posts_between(chat, linked_at, berlin("2025-06-10 18:00"))

    # The first check after the close is at the end of Thursday, so the
    # incident counts as resolved from then, and the review is due on Friday.
    # The IMOC's turn skips the weekend and Whit Monday.
    assert [at for at, _ in posts] == [
        berlin("2025-06-06 17:00"),
        berlin("2025-06-10 17:00"),
    ]
    assert f"{FOLLOW_UPS}#1: lacks" in posts[0][1]


def test_s2_closed_on_gitlab_gets_review(
    chat: Chat, gitlab_sandbox: GitLabSandbox
) -> None:
    declared_at = berlin("2025-06-04 12:00")
    chat.at(declared_at)
    assert "Declared" in chat.command("alice", "incident declare S2 Checkout errors")
    gitlab_sandbox.edit_issue_directly("infra/production", 1, state_event="close")

    # S2 expects a status update every 30 minutes; the first reminder after
    # the close finds the issue closed on GitLab.
    posted = run_reminders(chat, declared_at + timedelta(minutes=31))

    reviews = gitlab_sandbox.issues("infra/incident-reviews")
    assert len(reviews) == 1
    assert "review-requested" in reviews[0]["labels"]
    assert any("was closed on GitLab" in post for post in posted)
    assert any(reviews[0]["web_url"] in post for post in posted)
