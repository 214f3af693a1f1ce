"""Business days and follow-up review deadlines on the lead's calendar.

A business day is a weekday that is not a public holiday of the calendar's
country (or of its subdivision, such as a German state). The holidays come
from the `holidays` package.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays

if TYPE_CHECKING:
    from incidentbot.settings import Calendar

# NOTE: Saturday and Sunday are the weekend for every country, although a few
# countries rest on other days (Israel on Friday and Saturday, for example).
_WEEKEND = (5, 6)  # date.weekday() of Saturday and Sunday

# The subdivision part of an ISO 3166-2 code, as in "DE-BY". The holidays
# package also has subdivisions outside this form, such as "Augsburg".
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")


class UnknownCountryError(ValueError):
    """A calendar country or subdivision that the holidays package does not cover."""

    def __init__(self, code: str, hint: str) -> None:
        super().__init__(f'no public holidays are known for "{code}": {hint}')
        self.code = code
        self.hint = hint


def check_country(code: str) -> None:
    """Raise UnknownCountryError unless the holidays package covers `code`.

    `code` is a country ("DE") or a country and subdivision ("DE-BY").
    """
    country, subdivision = _split_code(code)
    supported = _supported_countries()
    if country not in supported:
        raise UnknownCountryError(
            code,
            "use a two-letter ISO 3166-1 code that the holidays package "
            'covers, such as "DE", optionally with an ISO 3166-2 subdivision '
            'such as "DE-BY"',
        )
    if subdivision is not None and subdivision not in supported[country]:
        listed = [name for name in supported[country] if _SUBDIVISION.fullmatch(name)]
        choices = "".join(f'"{country}-{name}", ' for name in listed)
        raise UnknownCountryError(
            code,
            f'the holidays package has no subdivision "{subdivision}" of '
            f'{country}, so use {choices}or "{country}" for the whole country',
        )


def is_business_day(day: date, calendar: Calendar) -> bool:
    """Tell whether `day` is neither a weekend day nor a public holiday.

    Raises UnknownCountryError when the calendar's country is not covered.
    """
    if day.weekday() in _WEEKEND:
        return False
    return day not in _holidays(calendar.country, day.year)


def next_business_day(day: date, calendar: Calendar) -> date:
    """Return the first business day after `day`, never `day` itself."""
    candidate = day + timedelta(days=1)
    while not is_business_day(candidate, calendar):
        candidate += timedelta(days=1)
    return candidate


def review_deadline(instant: datetime, calendar: Calendar) -> datetime:
    """Return when a follow-up linked at `instant` must be reviewed, in UTC.

    The deadline is the calendar's end of day, in its time zone, on the next
    business day after the local date of `instant`. So a link posted at 00:30
    on a Tuesday in Berlin (Monday 22:30 UTC) is due on Wednesday. Raises
    ValueError for a naive `instant`, since its time zone would be a guess.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"invalid instant {instant}: review_deadline needs an aware "
            "datetime, so pass one with tzinfo=UTC"
        )
    zone = ZoneInfo(calendar.time_zone)
    local_date = instant.astimezone(zone).date()
    due_date = next_business_day(local_date, calendar)
    # With fold=0 (PEP 495), an end of day that a DST change skips gets the
    # offset from before the change, so 02:30 on a day that jumps from 02:00 to
    # 03:00 becomes 03:30 on the clock. A repeated end of day takes the first.
    local_deadline = datetime.combine(due_date, calendar.end_of_day, tzinfo=zone)
    return local_deadline.astimezone(UTC)


def _split_code(code: str) -> tuple[str, str | None]:
    country, separator, subdivision = code.partition("-")
    return country, subdivision if separator else None


@functools.cache
def _supported_countries() -> dict[str, list[str]]:
    # Aliases ("UK", three-letter codes) are left out, because the settings
    # take ISO 3166-1 alpha-2 codes only.
    return holidays.list_supported_countries(include_aliases=False)


@functools.lru_cache(maxsize=64)
def _holidays(code: str, year: int) -> frozenset[date]:
    # One year at a time with expand=False gives a fixed set, so the cached
    # value never changes under a reader on another thread.
    check_country(code)
    country, subdivision = _split_code(code)
    calendar = holidays.country_holidays(
        country, subdiv=subdivision, years=year, expand=False
    )
    return frozenset(calendar.keys())
