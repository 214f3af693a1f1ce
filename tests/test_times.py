"""Parsing times typed in chat and formatting times and ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from incidentbot.times import format_age, format_utc, parse_time

NOW = datetime(2025, 10, 17, 16, 10, 30, tzinfo=UTC)
INVALID_HINT = "use now, HH:MM (UTC) or ISO 8601 such as 2025-10-17T16:06:00Z"


def test_parse_time_now() -> None:
    assert parse_time("now", NOW) == NOW
    assert parse_time(" NOW ", NOW) == NOW


def test_parse_time_now_from_other_zone() -> None:
    now = datetime(2025, 10, 17, 18, 10, tzinfo=timezone(timedelta(hours=2)))

    parsed = parse_time("now", now)

    assert parsed == datetime(2025, 10, 17, 16, 10, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16:06", datetime(2025, 10, 17, 16, 6, tzinfo=UTC)),
        ("9:05", datetime(2025, 10, 17, 9, 5, tzinfo=UTC)),
        ("00:00", datetime(2025, 10, 17, 0, 0, tzinfo=UTC)),
        ("16:15", datetime(2025, 10, 17, 16, 15, tzinfo=UTC)),
        ("16:16", datetime(2025, 10, 16, 16, 16, tzinfo=UTC)),
        ("23:59", datetime(2025, 10, 16, 23, 59, tzinfo=UTC)),
    ],
)
def test_parse_time_clock(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


def test_parse_time_clock_after_midnight() -> None:
    now = datetime(2025, 10, 18, 0, 20, tzinfo=UTC)

    assert parse_time("23:50", now) == datetime(2025, 10, 17, 23, 50, tzinfo=UTC)
    assert parse_time("00:05", now) == datetime(2025, 10, 18, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-17T16:06:00Z", datetime(2025, 10, 17, 16, 6, tzinfo=UTC)),
        ("2025-10-17 16:06+02:00", datetime(2025, 10, 17, 14, 6, tzinfo=UTC)),
        ("2025-10-17T16:06:00-05:30", datetime(2025, 10, 17, 21, 36, tzinfo=UTC)),
        ("2025-10-17T16:06", datetime(2025, 10, 17, 16, 6, tzinfo=UTC)),
        ("2025-10-18T09:00:00Z", datetime(2025, 10, 18, 9, 0, tzinfo=UTC)),
    ],
)
def test_parse_time_iso(text: str, expected: datetime) -> None:
    parsed = parse_time(text, NOW)

    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "24:00", "16:60", "16:6", "4pm", "2025-13-01T00:00Z"]
)
def test_parse_time_invalid(text: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_time(text, NOW)

    assert str(error.value) == f"invalid time '{text}': {INVALID_HINT}"


def test_parse_time_naive_now() -> None:
    with pytest.raises(ValueError) as error:
        parse_time("now", datetime(2025, 10, 17, 16, 10))

    assert str(error.value) == (
        "invalid now 2025-10-17T16:10:00: the datetime has no time zone, "
        "pass an aware one such as datetime.now(UTC)"
    )


def test_format_utc() -> None:
    assert (
        format_utc(datetime(2025, 6, 7, 0, 20, 59, tzinfo=UTC))
        == "2025-06-07 00:20 UTC"
    )


def test_format_utc_converts_zone() -> None:
    at = datetime(2025, 6, 6, 20, 20, tzinfo=timezone(timedelta(hours=-4)))

    assert format_utc(at) == "2025-06-07 00:20 UTC"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0 min"),
        (timedelta(seconds=59), "0 min"),
        (timedelta(minutes=3), "3 min"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(hours=23, minutes=59), "23 h 59 min"),
        (timedelta(days=1), "1 d"),
        (timedelta(days=1, hours=4, minutes=59), "1 d 4 h"),
        (timedelta(days=12, hours=1), "12 d 1 h"),
    ],
)
def test_format_age(delta: timedelta, expected: str) -> None:
    assert format_age(delta) == expected


def test_format_age_negative() -> None:
    with pytest.raises(ValueError) as error:
        format_age(timedelta(minutes=-3))

    assert str(error.value) == (
        "invalid age -180 s: the duration is negative, "
        "so the start time is after the end time"
    )
