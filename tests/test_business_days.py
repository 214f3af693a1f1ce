"""Tests of business days and follow-up review deadlines."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidentbot.business_days import (
    UnknownCountryError,
    check_country,
    is_business_day,
    next_business_day,
    review_deadline,
)
from incidentbot.settings import Calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# The lead's calendar: Europe/Berlin, German public holidays, day ends 17:00.
GERMANY = Calendar(time_zone="Europe/Berlin", country="DE", end_of_day=time(17, 0))
BAVARIA = Calendar(time_zone="Europe/Berlin", country="DE-BY", end_of_day=time(17, 0))
UNITED_STATES = Calendar(
    time_zone="America/New_York", country="US", end_of_day=time(17, 0)
)


def berlin(text: str) -> datetime:
    """Return the UTC instant of a Berlin wall time such as "2025-05-31 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def new_york(text: str) -> datetime:
    """Return the UTC instant of a New York wall time."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Linked at (Berlin wall time) -> review deadline (Berlin wall time), with
# German public holidays and the working day ending at 17:00.
DEADLINE_CASES = {
    "saturday": ("2025-05-31 10:00", "2025-06-02 17:00"),
    "friday before whit monday": ("2025-06-06 16:00", "2025-06-10 17:00"),
    "christmas eve": ("2025-12-24 11:00", "2025-12-29 17:00"),
    "local date ahead of utc": ("2025-06-03 00:30", "2025-06-04 17:00"),
}


@pytest.mark.parametrize(
    ("linked", "expected"), DEADLINE_CASES.values(), ids=DEADLINE_CASES
)
def test_review_deadline_in_berlin(linked: str, expected: str) -> None:
    deadline = review_deadline(berlin(linked), GERMANY)

    assert deadline == berlin(expected)
    assert deadline.tzinfo is UTC
    assert deadline.astimezone(BERLIN).strftime("%a %Y-%m-%d %H:%M") == (
        datetime.fromisoformat(expected).strftime("%a %Y-%m-%d %H:%M")
    )


def test_deadline_exact_utc_values() -> None:
    # The same table in UTC, the time zone of the server's clock (CEST is UTC+2,
    # CET is UTC+1).
    assert review_deadline(utc("2025-05-31 08:00"), GERMANY) == utc("2025-06-02 15:00")
    assert review_deadline(utc("2025-06-06 14:00"), GERMANY) == utc("2025-06-10 15:00")
    assert review_deadline(utc("2025-12-24 10:00"), GERMANY) == utc("2025-12-29 16:00")
    assert review_deadline(utc("2025-06-02 22:30"), GERMANY) == utc("2025-06-04 15:00")


def test_deadline_monday_evening_utc() -> None:
    # 21:59 UTC on a Monday is still Monday in Berlin, so Tuesday is due.
    assert review_deadline(utc("2025-06-02 21:59"), GERMANY) == utc("2025-06-03 15:00")


def test_deadline_winter_and_summer_offsets() -> None:
    winter = review_deadline(berlin("2025-01-15 10:00"), GERMANY)
    summer = review_deadline(berlin("2025-07-16 10:00"), GERMANY)

    assert winter == utc("2025-01-16 16:00")
    assert summer == utc("2025-07-17 15:00")


def test_deadline_across_dst_changes() -> None:
    # Clocks go forward on Sunday 2025-03-30 and back on Sunday 2025-10-26.
    spring = review_deadline(berlin("2025-03-28 12:00"), GERMANY)
    autumn = review_deadline(berlin("2025-10-24 12:00"), GERMANY)

    assert spring == utc("2025-03-31 15:00")
    assert spring.astimezone(BERLIN).hour == 17
    assert autumn == utc("2025-10-27 16:00")
    assert autumn.astimezone(BERLIN).hour == 17


def test_end_of_day_in_dst_gap() -> None:
    # Israel moves from 02:00 to 03:00 on Friday 2025-03-28, a weekday. The
    # skipped 02:30 takes the winter offset (UTC+2), which is 03:30 on the clock.
    calendar = Calendar(
        time_zone="Asia/Jerusalem", country="IL", end_of_day=time(2, 30)
    )

    deadline = review_deadline(utc("2025-03-27 09:00"), calendar)

    assert deadline == utc("2025-03-28 00:30")
    assert deadline.astimezone(ZoneInfo("Asia/Jerusalem")).time() == time(3, 30)


def test_deadline_in_new_york() -> None:
    # EDT is UTC-4, EST is UTC-5.
    assert review_deadline(new_york("2025-07-02 10:00"), UNITED_STATES) == utc(
        "2025-07-03 21:00"
    )
    # Independence Day, Friday 2025-07-04, is skipped.
    assert review_deadline(new_york("2025-07-03 10:00"), UNITED_STATES) == utc(
        "2025-07-07 21:00"
    )
    # Thanksgiving, Thursday 2025-11-27, is skipped.
    assert review_deadline(new_york("2025-11-26 10:00"), UNITED_STATES) == utc(
        "2025-11-28 22:00"
    )


def test_new_york_local_date_behind_utc() -> None:
    # Tuesday 01:00 UTC is still Monday evening in New York, so Tuesday is due.
    linked = utc("2025-06-03 01:00")

    deadline = review_deadline(linked, UNITED_STATES)

    assert deadline == utc("2025-06-03 21:00")
    assert deadline.astimezone(NEW_YORK) == new_york("2025-06-03 17:00").astimezone(
        NEW_YORK
    )


def test_observed_holiday_skipped() -> None:
    # Independence Day 2026 is a Saturday, so Friday 2026-07-03 is the day off.
    assert not is_business_day(date(2026, 7, 3), UNITED_STATES)
    assert next_business_day(date(2026, 7, 2), UNITED_STATES) == date(2026, 7, 6)


def test_subdivision_holidays() -> None:
    # Corpus Christi, Thursday 2025-06-19, is a holiday in Bavaria only.
    assert is_business_day(date(2025, 6, 19), GERMANY)
    assert not is_business_day(date(2025, 6, 19), BAVARIA)
    assert review_deadline(berlin("2025-06-18 10:00"), GERMANY) == berlin(
        "2025-06-19 17:00"
    )
    assert review_deadline(berlin("2025-06-18 10:00"), BAVARIA) == berlin(
        "2025-06-20 17:00"
    )


def test_other_end_of_day() -> None:
    calendar = Calendar(
        time_zone="Europe/Berlin", country="DE", end_of_day=time(18, 30)
    )

    assert review_deadline(berlin("2025-06-02 09:00"), calendar) == berlin(
        "2025-06-03 18:30"
    )


def test_deadline_from_other_offset() -> None:
    # An aware instant in any zone is the same instant as in UTC.
    linked = datetime(2025, 5, 31, 10, 0, tzinfo=BERLIN)

    assert review_deadline(linked, GERMANY) == utc("2025-06-02 15:00")


def test_naive_instant_rejected() -> None:
    with pytest.raises(ValueError) as raised:
        review_deadline(datetime(2025, 6, 2, 10, 0), GERMANY)

    assert str(raised.value) == (
        "invalid instant 2025-06-02 10:00:00: review_deadline needs an aware "
        "datetime, so pass one with tzinfo=UTC"
    )


NEXT_BUSINESS_DAYS = {
    "saturday to monday": (date(2025, 5, 31), date(2025, 6, 2)),
    "sunday to monday": (date(2025, 6, 1), date(2025, 6, 2)),
    "friday to monday": (date(2025, 6, 13), date(2025, 6, 16)),
    "monday to tuesday": (date(2025, 6, 2), date(2025, 6, 3)),
    "over whit monday": (date(2025, 6, 6), date(2025, 6, 10)),
    "over christmas": (date(2025, 12, 24), date(2025, 12, 29)),
    "over new year": (date(2025, 12, 31), date(2026, 1, 2)),
    "over easter": (date(2025, 4, 17), date(2025, 4, 22)),
    "holiday itself": (date(2025, 10, 3), date(2025, 10, 6)),
}


@pytest.mark.parametrize(
    ("day", "expected"), NEXT_BUSINESS_DAYS.values(), ids=NEXT_BUSINESS_DAYS
)
def test_next_business_day(day: date, expected: date) -> None:
    assert next_business_day(day, GERMANY) == expected


def test_is_business_day() -> None:
    assert is_business_day(date(2025, 6, 2), GERMANY)  # Monday
    assert not is_business_day(date(2025, 5, 31), GERMANY)  # Saturday
    assert not is_business_day(date(2025, 6, 1), GERMANY)  # Sunday
    assert not is_business_day(date(2025, 6, 9), GERMANY)  # Whit Monday
    assert not is_business_day(date(2025, 12, 25), GERMANY)
    assert not is_business_day(date(2025, 12, 26), GERMANY)
    assert is_business_day(date(2025, 12, 24), GERMANY)  # not a public holiday


def test_deadlines_through_a_year() -> None:
    # Every hour of 2025: the deadline is 17:00 Berlin time on a business day,
    # after the link, and no business day lies between the two local dates.
    instant = utc("2025-01-01 00:00")
    while instant.year == 2025:
        deadline = review_deadline(instant, GERMANY)
        local_deadline = deadline.astimezone(BERLIN)
        linked_date = instant.astimezone(BERLIN).date()

        assert deadline > instant
        assert local_deadline.time() == time(17, 0)
        assert is_business_day(local_deadline.date(), GERMANY)
        between = linked_date + timedelta(days=1)
        while between < local_deadline.date():
            assert not is_business_day(between, GERMANY), (instant, between)
            between += timedelta(days=1)
        instant += timedelta(hours=1)


def test_unknown_country() -> None:
    calendar = Calendar(time_zone="Europe/Berlin", country="XX", end_of_day=time(17))

    with pytest.raises(UnknownCountryError) as raised:
        review_deadline(berlin("2025-06-02 10:00"), calendar)

    assert raised.value.code == "XX"
    assert str(raised.value) == (
        'no public holidays are known for "XX": use a two-letter ISO 3166-1 code '
        'that the holidays package covers, such as "DE", optionally with an '
        'ISO 3166-2 subdivision such as "DE-BY"'
    )


def test_unknown_subdivision() -> None:
    with pytest.raises(UnknownCountryError) as raised:
        check_country("DE-ZZ")

    message = str(raised.value)
    assert message.startswith(
        'no public holidays are known for "DE-ZZ": the holidays package has no '
        'subdivision "ZZ" of DE, so use "DE-BB", "DE-BE", '
    )
    assert '"DE-BY"' in message
    assert message.endswith('or "DE" for the whole country')
    # Subdivisions that are no ISO 3166-2 code are not offered.
    assert "Augsburg" not in message


@pytest.mark.parametrize("code", ["UK", "DEU", "de", ""])
def test_country_aliases_rejected(code: str) -> None:
    with pytest.raises(UnknownCountryError, match=f'"{code}"'):
        check_country(code)


@pytest.mark.parametrize("code", ["DE", "DE-BY", "US", "US-CA", "GB", "FR"])
def test_known_countries(code: str) -> None:
    check_country(code)
