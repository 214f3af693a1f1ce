"""Text for an incident's own chat channel: its name, topic and status card.

The topic and card are returned as plain text. The caller passes the chat
service's escape function where the length limit counts escaped characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator

from incidentbot.model import ROLES, Incident
from incidentbot.render import STATE_TITLES
from incidentbot.times import format_utc

# Slack channel names: lowercase letters, digits, "-" and "_", at most 80.
CHANNEL_NAME_MAX = 80
# Slack rejects a channel topic longer than this with too_long.
TOPIC_MAX = 250
# A status update longer than this is cut in the card, which links the issue
# where the full text is, so that the card stays one short Slack message.
CARD_UPDATE_MAX = 1_000
ELLIPSIS = "…"
# Shown where the title would be, because the title of a confidential
# incident stays on the confidential GitLab issue.
CONFIDENTIAL_TITLE = "confidential, the title is on the issue"

_NOT_IN_NAME = re.compile(r"[^a-z0-9_-]+")
_ZERO_WIDTH_JOINER = "\u200d"
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def channel_name(prefix: str, iid: int) -> str:
    """Return the channel name for an incident: prefix and iid, as Slack allows.

    Characters Slack rejects become "-", letters are lowercased, and the name
    is cut to 80 characters.
    """
    name = _NOT_IN_NAME.sub("-", f"{prefix}{iid}".lower())
    return name[:CHANNEL_NAME_MAX]


def name_variants(base: str, count: int) -> Iterator[str]:
    """Yield base, then base-2, base-3 and so on: `count` names in all.

    The base is cut where needed so that each name stays within 80 characters.
    """
    if count > 0:
        yield base[:CHANNEL_NAME_MAX]
    for number in range(2, count + 1):
        suffix = f"-{number}"
        yield base[: CHANNEL_NAME_MAX - len(suffix)] + suffix


def topic_text(incident: Incident) -> str:
    """Return the channel topic: severity, state and title.

    A confidential incident's topic names no title, since the channel may be
    public.
    """
    parts = [incident.severity, STATE_TITLES[incident.state]]
    parts.append("Confidential" if incident.confidential else incident.title)
    return " | ".join(parts)


def card_text(incident: Incident) -> str:
    """Return the status card the bot keeps in the incident channel.

    It shows the title (unless confidential), severity, state, roles, the
    last status update with its UTC time, and the issue link.
    """
    title = CONFIDENTIAL_TITLE if incident.confidential else incident.title
    roles = ", ".join(
        f"{role} {incident.roles[role]}" for role in ROLES if incident.roles.get(role)
    )
    lines = [
        f"Incident {incident.ref}: {title}",
        f"Severity: {incident.severity} | State: {STATE_TITLES[incident.state]}",
        f"Roles: {roles or 'none assigned'}",
    ]
    update = incident.last_update
    if update is None:
        lines.append("Last update: none yet")
    else:
        text = update.text
        if len(text) > CARD_UPDATE_MAX:
            cut = _grapheme_boundary(text, CARD_UPDATE_MAX)
            text = text[:cut].rstrip() + ELLIPSIS + " (full text on the issue)"
        lines.append(f"Last update ({format_utc(update.at)}, {update.author}): {text}")
    lines.append(f"Issue: {incident.web_url}")
    return "\n".join(lines)


def fit(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """Escape text and cut it so that the escaped result has at most `limit` characters.

    The cut never falls inside an escape sequence, because text is escaped
    after it is cut. It keeps the characters people see whole in the cases
    _grapheme_boundary covers. A cut text ends with "…". `escape` must never
    return text shorter than its input, as Slack's escape does not.
    """
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    # Escaping does not shorten text, so no prefix longer than `limit` fits.
    cut = min(len(text), limit)
    while cut > 0:
        cut = _grapheme_boundary(text, cut)
        candidate = escape(text[:cut].rstrip() + ELLIPSIS)
        if len(candidate) <= limit:
            return candidate
        cut -= 1
    return escape(ELLIPSIS)[:limit]


def _grapheme_boundary(text: str, cut: int) -> int:
    """Move a cut position left until it no longer splits a visible character.

    This covers combining marks, variation selectors, emoji joined by a zero
    width joiner, skin tones and flags, the cases chat text commonly has. It
    is not the full Unicode grapheme cluster algorithm (UAX #29).
    """
    while 0 < cut < len(text) and _joins_previous(text, cut):
        cut -= 1
    return cut


def _joins_previous(text: str, index: int) -> bool:
    char = text[index]
    previous = text[index - 1]
    if previous == _ZERO_WIDTH_JOINER or char == _ZERO_WIDTH_JOINER:
        return True
    if unicodedata.category(char) in ("Mn", "Mc", "Me"):
        return True
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or code in _SKIN_TONES:
        return True
    if code in _REGIONAL_INDICATORS and ord(previous) in _REGIONAL_INDICATORS:
        # A flag is a pair of regional indicators, counted from the run's start.
        start = index
        while start > 0 and ord(text[start - 1]) in _REGIONAL_INDICATORS:
            start -= 1
        return (index - start) % 2 == 1
    return False
