"""GitLab notes: inert text, quotes, pinned messages and status updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from incidentbot.gitlab_text import inert, pinned_note, quote, status_note

JOINER = "\u2060"
AT_MIDNIGHT = datetime(2025, 6, 7, 0, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/close", "\\/close"),
        ("  /assign @bob", f"  \\/assign @{JOINER}bob"),
        ("\t/label ~incident", "\t\\/label ~incident"),
        ("\r/close", "\r\\/close"),
        ("fixed\n/close\nthanks", "fixed\n\\/close\nthanks"),
        ("see /var/log/syslog", "see /var/log/syslog"),
        ("\\/close", "\\/close"),
    ],
)
def test_inert_quick_actions(text: str, expected: str) -> None:
    assert inert(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@all", f"@{JOINER}all"),
        ("@here please", f"@{JOINER}here please"),
        ("ping @bob and (@carol)", f"ping @{JOINER}bob and (@{JOINER}carol)"),
        ("@infra/dba-oncall", f"@{JOINER}infra/dba-oncall"),
        ("@_bot @.dotted @9lives", f"@{JOINER}_bot @{JOINER}.dotted @{JOINER}9lives"),
        ("café@all", f"café@{JOINER}all"),
        ("bob@example.com", "bob@example.com"),
        ("meet @ 16:00", "meet @ 16:00"),
        (f"@{JOINER}all", f"@{JOINER}all"),
    ],
)
def test_inert_mentions(text: str, expected: str) -> None:
    assert inert(text) == expected


def test_inert_keeps_other_characters() -> None:
    text = "p95 > 2s & climbing; < 5% *stars* `code` #123 ~label"

    assert inert(text) == text


def test_inert_escapes_html_openers() -> None:
    text = "<b>not bold</b> <!channel> <!-- hidden --> a<b"

    assert inert(text) == (
        "&lt;b>not bold&lt;/b> &lt;!channel> &lt;!-- hidden --> a&lt;b"
    )


def test_inert_twice_same_as_once() -> None:
    text = "/close\n@all bob@example.com"

    assert inert(inert(text)) == inert(text)


def test_quote_lines() -> None:
    assert quote("lag > 300s\n\nfailing over") == "> lag > 300s\n>\n> failing over"
    assert quote("") == ">"


def test_pinned_note_text_and_files() -> None:
    note = pinned_note(
        "bob",
        AT_MIDNIGHT,
        "p95 > 2s & climbing\n\n/close @all",
        ["p95-latency.png", "x.log"],
    )

    assert note == (
        "**bob** — 2025-06-07 00:20 UTC\n"
        "\n"
        "> p95 > 2s & climbing\n"
        ">\n"
        f"> \\/close @{JOINER}all\n"
        "\n"
        "Attachments kept in Slack: p95-latency.png, x.log"
    )


def test_pinned_note_converts_to_utc() -> None:
    posted_at = datetime(2025, 6, 7, 2, 20, tzinfo=timezone(timedelta(hours=2)))

    assert pinned_note("bob", posted_at, "lag is back") == (
        "**bob** — 2025-06-07 00:20 UTC\n\n> lag is back"
    )


def test_pinned_note_date_across_midnight() -> None:
    posted_at = datetime(2025, 6, 6, 23, 59, tzinfo=UTC)

    assert pinned_note("bob", posted_at, "still failing").startswith(
        "**bob** — 2025-06-06 23:59 UTC\n"
    )


def test_pinned_note_files_only() -> None:
    note = pinned_note("carol", AT_MIDNIGHT, "  \n", ("replica-lag.png",))

    assert note == (
        "**carol** — 2025-06-07 00:20 UTC\n\nAttachments kept in Slack: replica-lag.png"
    )


def test_pinned_note_inert_author_and_files() -> None:
    note = pinned_note("@all\nteam", AT_MIDNIGHT, "", ["@here.png", " "])

    assert note == (
        f"**@{JOINER}all team** — 2025-06-07 00:20 UTC\n\n"
        f"Attachments kept in Slack: @{JOINER}here.png"
    )


def test_pinned_note_strips_outer_blank_lines() -> None:
    note = pinned_note("bob", AT_MIDNIGHT, "\n\n  indented first\nsecond\n\n")

    assert note == "**bob** — 2025-06-07 00:20 UTC\n\n>   indented first\n> second"


def test_pinned_note_internal_header() -> None:
    note = pinned_note("bob", AT_MIDNIGHT, "db-2 root password rotated", internal=True)

    assert note == (
        "**bob** — 2025-06-07 00:20 UTC (internal)\n\n> db-2 root password rotated"
    )


def test_pinned_note_empty_message() -> None:
    with pytest.raises(ValueError) as error:
        pinned_note("bob", AT_MIDNIGHT, " \n ", ["", "  "])

    assert str(error.value) == "the message has no text or attachments to copy"


def test_pinned_note_single_string_files() -> None:
    with pytest.raises(TypeError) as error:
        pinned_note("bob", AT_MIDNIGHT, "text", "x.log")

    assert str(error.value) == (
        "files must be a sequence of file names, got the string 'x.log': "
        "wrap a single name in a list"
    )


def test_pinned_note_naive_time() -> None:
    with pytest.raises(ValueError) as error:
        pinned_note("bob", datetime(2025, 6, 7, 0, 20), "text")

    assert str(error.value) == (
        "invalid at 2025-06-07T00:20:00: the datetime has no time zone, "
        "pass an aware one such as datetime.now(UTC)"
    )


def test_pinned_note_blank_author() -> None:
    with pytest.raises(ValueError) as error:
        pinned_note(" ", AT_MIDNIGHT, "text")

    assert str(error.value) == "the author is blank: pass the person's display name"


def test_status_note() -> None:
    note = status_note("alice", AT_MIDNIGHT, "Failed over to db-3.\n/close when stable")

    assert note == (
        "**Status update** by alice — 2025-06-07 00:20 UTC\n\n"
        "Failed over to db-3.\n\\/close when stable"
    )


def test_status_note_blank_text() -> None:
    with pytest.raises(ValueError) as error:
        status_note("alice", AT_MIDNIGHT, "   ")

    assert str(error.value) == (
        "the status update has no text: write the new status after the command"
    )
