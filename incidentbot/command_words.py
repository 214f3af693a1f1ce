"""Words at the start of incident commands: severities and times.

Titles and timeline entries are free text that often starts with a number or
a word like "Now", so only words plainly shaped as a severity or a time are
read as one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta

from incidentbot.args import split_first
from incidentbot.incidents import IncidentError
from incidentbot.times import parse_time

# Times a few minutes ahead are allowed, since chat clients' clocks drift.
FUTURE_TOLERANCE = timedelta(minutes=5)
CLOCK_WORD = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")
DATE_WORD = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_WORD = re.compile(r"\d{4}-\d{2}-\d{2}T\S+", re.IGNORECASE)
# A severity at the start of `incident declare`: S2, sev2, SEV-2, (S2), S2:
SEVERITY_WORD = re.compile(
    r"[(\[]?(?:s|sev|sev-|severity::?)(?P<level>\d+)[)\]]?:?", re.IGNORECASE
)
CONFIDENTIAL_FLAG = "--confidential"


# A word that looks like a command-line option: "-c", "--conf", "—confidential".
OPTION = re.compile(r"(?:--?|[\u2012-\u2015\u2212])[A-Za-z]")


def declare_words(
    text: str, severities: Collection[str], default: str
) -> tuple[str, str, bool]:
    """Split `incident declare` text into severity, title and confidential flag."""
    words = text.split()
    for option in words:
        if option != CONFIDENTIAL_FLAG and OPTION.match(option):
            # Phones turn "--" into a dash, and a misspelt flag would
            # otherwise declare a public incident with the flag in its title.
            raise IncidentError(
                f"Unknown option '{option}': the only option is "
                f"{CONFIDENTIAL_FLAG} (two hyphens). Nothing was declared."
            )
    confidential = CONFIDENTIAL_FLAG in words
    if confidential:
        text = " ".join(word for word in words if word != CONFIDENTIAL_FLAG)
    first, rest = split_first(text)
    word = SEVERITY_WORD.fullmatch(first)
    if word is None:
        return default, text, confidential
    name = f"S{word['level']}"
    if name not in severities:
        raise IncidentError(
            f"Invalid severity '{first}': use one of {', '.join(severities)}."
        )
    return name, rest, confidential


def checked_time(text: str, now: datetime) -> datetime:
    """Parse a time given in a command, rejecting one in the future."""
    try:
        at = parse_time(text, now)
    except ValueError as error:
        raise IncidentError(sentence(str(error))) from error
    if at - now > FUTURE_TOLERANCE:
        raise IncidentError(
            f"Invalid time '{text}': it is in the future (now is "
            f"{now:%Y-%m-%d %H:%M} UTC). Give the time it happened."
        )
    return at


def leading_time(text: str, now: datetime) -> tuple[datetime, str]:
    """Split an optional time off the start of a timeline entry.

    A word shaped like a time (14:05, 2025-06-06T14:05Z, or a date followed
    by 14:05) is taken as one, and one that is not valid, such as 25:00, is
    an error rather than text. Any other first word belongs to the entry,
    which then happened now.
    """
    first, rest = split_first(text)
    if DATE_WORD.fullmatch(first):
        clock, after = split_first(rest)
        if CLOCK_WORD.fullmatch(clock):
            return checked_time(f"{first}T{clock}", now), after
        return checked_time(first, now), rest
    if CLOCK_WORD.fullmatch(first) or ISO_WORD.fullmatch(first):
        return checked_time(first, now), rest
    return now, text


def sentence(text: str) -> str:
    """Return text as a sentence: capitalised and ending in a full stop.

    A sentence that starts with a reference such as infra/production#1 keeps
    its case.
    """
    text = text.strip()
    if not text:
        return text
    if text.split()[0].isalpha():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "`")) else text + "."
