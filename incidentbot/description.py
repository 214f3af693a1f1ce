"""The bot's sections of the incident issue description.

The bot owns a few sections of the description, each between an opening and a
closing HTML comment. It rewrites only what lies between its own markers, so
text people write anywhere else in the description is kept as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SECTION_ORDER = (
    "status",
    "fields",
    "summary",
    "timeline",
    "corrective-actions",
    "follow-ups",
)
SECTION_TITLES = {
    "status": "Current status",
    "fields": "Fields",
    "summary": "Summary",
    "timeline": "Timeline",
    "corrective-actions": "Corrective actions",
    "follow-ups": "Follow-ups",
}


def start_marker(name: str) -> str:
    return f"<!-- incident-bot:{name}:start -->"


def end_marker(name: str) -> str:
    return f"<!-- incident-bot:{name}:end -->"


def render_section(name: str, body: str) -> str:
    """Return the whole section, markers and heading included."""
    heading = f"## {SECTION_TITLES[name]}"
    content = body.strip() or "_Nothing yet._"
    return f"{start_marker(name)}\n{heading}\n\n{content}\n{end_marker(name)}"


def replace_sections(description: str, bodies: Mapping[str, str]) -> str:
    """Return the description with the given sections rewritten.

    A section that is missing, or whose closing marker someone deleted, is
    appended after the bot's other sections. An orphaned opening marker is
    dropped, so no text outside complete marker pairs is ever removed.
    """
    text = description or ""
    for name in SECTION_ORDER:
        if name not in bodies:
            continue
        section = render_section(name, bodies[name])
        span = _find(text, name)
        if span is not None:
            start, end = span
            text = text[:start] + section + text[end:]
            continue
        text = text.replace(start_marker(name), "")
        text = _append(text, name, section)
    return text


def section_body(description: str, name: str) -> str | None:
    """Return the text between a section's heading and its closing marker."""
    span = _find(description or "", name)
    if span is None:
        return None
    start, end = span
    inner = description[start + len(start_marker(name)) : end - len(end_marker(name))]
    heading = f"## {SECTION_TITLES[name]}"
    return inner.strip().removeprefix(heading).strip()


def _find(text: str, name: str) -> tuple[int, int] | None:
    pattern = re.escape(start_marker(name)) + r".*?" + re.escape(end_marker(name))
    match = re.search(pattern, text, flags=re.DOTALL)
    return (match.start(), match.end()) if match else None


def _append(text: str, name: str, section: str) -> str:
    """Insert a new section after the last bot section that comes before it."""
    position = SECTION_ORDER.index(name)
    for earlier in reversed(SECTION_ORDER[:position]):
        span = _find(text, earlier)
        if span is not None:
            end = span[1]
            return text[:end] + "\n\n" + section + text[end:]
    for later in SECTION_ORDER[position + 1 :]:
        span = _find(text, later)
        if span is not None:
            start = span[0]
            return text[:start] + section + "\n\n" + text[start:]
    if not text.strip():
        return section
    return text.rstrip() + "\n\n" + section
