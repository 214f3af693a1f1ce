"""Times typed in chat and times shown to people, always in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})")

# Incidents are logged after the fact, so a bare HH:MM up to this far ahead of
# the clock is still today. Anything later is taken as yesterday.
_FUTURE_TOLERANCE = timedelta(minutes=5)


def parse_time(text: str, now: datetime) -> datetime:
    """Parse `now`, `HH:MM` (UTC) or ISO 8601 into an aware UTC datetime.

    `HH:MM` takes today's UTC date, or yesterday's when the result would be more
    than 5 minutes after `now`. ISO 8601 without an offset is taken as UTC.
    Raises ValueError for anything else, and for a naive `now`.
    """
    now_utc = _to_utc(now, "now")
    value = text.strip()
    if value.casefold() == "now":
        return now_utc

    clock = _CLOCK.fullmatch(value)
    if clock:
        return _parse_clock(text, int(clock[1]), int(clock[2]), now_utc)

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid_time(text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_utc(at: datetime) -> str:
    """Format an aware datetime as `2025-06-07 00:20 UTC`."""
    return _to_utc(at, "at").strftime("%Y-%m-%d %H:%M UTC")


def format_age(delta: timedelta) -> str:
    """Format a duration as `3 min`, `2 h 5 min` or `1 d 4 h`, rounded down.

    The two largest units are shown, and a zero second unit is left out
    (`2 h`, `3 d`). Raises ValueError for a negative duration.
    """
    if delta < timedelta(0):
        raise ValueError(
            f"invalid age {delta.total_seconds():.0f} s: the duration is negative, "
            "so the start time is after the end time"
        )
    minutes_total = delta // timedelta(minutes=1)
    days, minutes_of_day = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(minutes_of_day, 60)

    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def _parse_clock(text: str, hour: int, minute: int, now: datetime) -> datetime:
    if hour > 23 or minute > 59:
        raise _invalid_time(text)
    at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at - now > _FUTURE_TOLERANCE:
        at -= timedelta(days=1)
    return at


def _to_utc(at: datetime, name: str) -> datetime:
    # A naive datetime would be read in the server's local zone by astimezone(),
    # which silently shifts incident times, so it is rejected instead.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"invalid {name} {at.isoformat()}: the datetime has no time zone, "
            "pass an aware one such as datetime.now(UTC)"
        )
    return at.astimezone(UTC)


def _invalid_time(text: str) -> ValueError:
    return ValueError(
        f"invalid time '{text}': use now, HH:MM (UTC) "
        "or ISO 8601 such as 2025-10-17T16:06:00Z"
    )
