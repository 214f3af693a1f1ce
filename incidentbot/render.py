"""Text the bot writes about an incident: description sections and chat cards.

Everything that came from a person passes through `gitlab_text.inert` before
it reaches GitLab. Chat text is returned unescaped; the plugin escapes it for
the chat service it runs on.
"""

from __future__ import annotations

from datetime import datetime

from incidentbot.gitlab_text import inert
from incidentbot.model import SUMMARY_SECTIONS, Incident
from incidentbot.settings import Settings
from incidentbot.times import format_age, format_utc

STATE_TITLES = {"active": "Active", "mitigated": "Mitigated", "resolved": "Resolved"}


def description_sections(incident: Incident, settings: Settings) -> dict[str, str]:
    """Return the bodies of the bot's description sections for this incident."""
    return {
        "status": _status_section(incident),
        "fields": _fields_section(incident, settings),
        "summary": _summary_section(incident),
        "timeline": _timeline_section(incident),
        "corrective-actions": _list_section(incident.corrective_actions),
        "follow-ups": _list_section(incident.follow_ups),
    }


def initial_description(incident: Incident, settings: Settings) -> str:
    from incidentbot.description import replace_sections

    intro = (
        f"Incident declared by {inert(incident.declared_by)} on "
        f"{format_utc(incident.declared_at)} from chat."
    )
    return replace_sections(intro, description_sections(incident, settings))


def _status_section(incident: Incident) -> str:
    lines = [
        f"**State:** {STATE_TITLES[incident.state]}",
        f"**Severity:** {incident.severity}",
    ]
    roles = ", ".join(
        f"{role}: {inert(person)}" for role, person in sorted(incident.roles.items())
    )
    lines.append(f"**Roles:** {roles or 'none assigned'}")
    update = incident.last_update
    if update is not None:
        lines.append("")
        lines.append(f"_Last update {format_utc(update.at)} by {inert(update.author)}_")
        lines.append("")
        lines.append(inert(update.text))
    return "\n".join(lines)


def _fields_section(incident: Incident, settings: Settings) -> str:
    lines = []
    for name, field in settings.fields.items():
        value = incident.fields.get(name)
        if field.kind == "confidential":
            value = "true" if incident.confidential else "false"
        lines.append(f"- **{name}:** {inert(value) if value else '_not set_'}")
    return "\n".join(lines)


def _summary_section(incident: Incident) -> str:
    lines = [
        f"**Customer impact start:** {_time_or_unset(incident.impact_start)}",
        f"**Customer impact end:** {_time_or_unset(incident.impact_end)}",
    ]
    for section in SUMMARY_SECTIONS:
        text = incident.summary.get(section)
        lines.append("")
        lines.append(f"### {section.capitalize()}")
        lines.append("")
        lines.append(inert(text) if text else "_Not written yet._")
    return "\n".join(lines)


def _timeline_section(incident: Incident) -> str:
    lines = [
        f"- {format_utc(entry.at)} — {inert(entry.text)} ({inert(entry.author)})"
        for entry in incident.timeline
    ]
    return "\n".join(lines)


def _list_section(lines: list[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _time_or_unset(at: datetime | None) -> str:
    return format_utc(at) if at else "_not set_"


# Chat


def status_card(incident: Incident, now: datetime) -> str:
    """Return the incident's card as shown by `incident status`."""
    lines = [
        f"{incident.ref} — {incident.title}",
        f"{incident.web_url}",
        f"State: {STATE_TITLES[incident.state]}, severity {incident.severity}",
    ]
    roles = ", ".join(f"{role} {person}" for role, person in incident.roles.items())
    lines.append(f"Roles: {roles or 'none assigned'}")
    update = incident.last_update
    if update is None:
        lines.append("Last update: none yet")
    else:
        age = format_age(now - update.at)
        lines.append(f"Last update ({age} ago, {update.author}): {update.text}")
    if incident.impact_start:
        end = format_utc(incident.impact_end) if incident.impact_end else "ongoing"
        lines.append(f"Customer impact: {format_utc(incident.impact_start)} to {end}")
    return "\n".join(lines)


def summary_text(incident: Incident) -> str:
    """Return the summary for chat: sections, impact times and pinned messages."""
    lines = [f"Summary of {incident.ref} — {incident.title}"]
    for section in SUMMARY_SECTIONS:
        text = incident.summary.get(section) or "not written yet"
        lines.append(f"{section.capitalize()}: {text}")
    start = _time_or_none(incident.impact_start)
    end = _time_or_none(incident.impact_end)
    lines.append(f"Customer impact start: {start}, end: {end}")
    pinned = sorted(
        (pin for pin in incident.pins.values() if pin.public_note_id),
        key=lambda pin: float(pin.ts) if _is_number(pin.ts) else 0.0,
    )
    if pinned:
        lines.append("Pinned messages:")
        for pin in pinned:
            when = format_utc(pin.posted_at) if pin.posted_at else "unknown time"
            lines.append(f"- {when} {pin.author}: {pin.text}")
    lines.append("Timeline:")
    lines.extend(
        f"- {format_utc(entry.at)} {entry.text} ({entry.author})"
        for entry in incident.timeline
    )
    return "\n".join(lines)


def timeline_text(incident: Incident) -> str:
    if not incident.timeline:
        return f"The timeline of {incident.ref} is empty."
    lines = [f"Timeline of {incident.ref}:"]
    lines.extend(
        f"- {format_utc(entry.at)} {entry.text} ({entry.author})"
        for entry in incident.timeline
    )
    return "\n".join(lines)


def _time_or_none(at: datetime | None) -> str:
    return format_utc(at) if at else "not set"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
