"""The brief the bot writes when the IMOC or lead role passes to someone else.

The incoming person joins mid-incident and has to act at once, so the brief
covers their first questions: how bad, what the last update was and how long
ago, what is still to do, and who is already paged.
"""

from __future__ import annotations

from datetime import datetime

from incidentbot.model import Incident
from incidentbot.pagerduty_api import trim_summary
from incidentbot.times import format_age

# Maximum length of the status update quoted in a brief. The incident issue
# has all of it.
UPDATE_MAX = 400


def handover_brief(
    incident: Incident,
    role: str,
    old: str,
    new: str,
    note: str,
    now: datetime,
    *,
    by: str = "",
) -> str:
    """Return the brief for `new`, who takes role over from `old` ("" for no one).

    note is what `by`, the person handing over, added to the command.
    """
    before = f" from {old}" if old else ""
    title = "(confidential)" if incident.confidential else incident.title
    lines = [
        f"{new} is now {role} of {incident.ref}{before}. Brief:",
        f"- Status: {incident.severity}, {incident.state}, declared "
        f"{format_age(now - incident.declared_at)} ago: {title}",
        _last_update(incident, now),
        _followups(incident),
        _pages(incident),
    ]
    if note.strip():
        lines.append(
            f"- Note from {by or old or 'the previous holder'}: {note.strip()}"
        )
    return "\n".join(lines)


def _last_update(incident: Incident, now: datetime) -> str:
    update = incident.last_update
    if update is None:
        return "- Last update: none yet; post one with `incident update <text>`."
    text = trim_summary(" ".join(update.text.split()), UPDATE_MAX)
    age = format_age(now - update.at)
    return f"- Last update, {age} ago by {update.author}: {text}"


def _followups(incident: Incident) -> str:
    refs = [item.ref for item in incident.followups if item.state == "opened"]
    if not refs:
        return "- Open follow-ups: none"
    return f"- Open follow-ups ({len(refs)}): {', '.join(refs)}"


def _pages(incident: Incident) -> str:
    pages = [page for page in incident.pages if page.kind != "group"]
    reached = list(dict.fromkeys(page.name for page in pages if page.reached))
    # A restart while PagerDuty was called leaves a page pending: it may have
    # gone out, so it is named apart from both the confirmed and the failed.
    pending = [
        page.name
        for page in pages
        if page.outcome == "pending" and page.name not in reached
    ]
    failed = [
        page.name
        for page in pages
        if page.outcome == "failed" and page.name not in reached + pending
    ]
    parts = [", ".join(reached)] if reached else []
    if pending:
        names = ", ".join(dict.fromkeys(pending))
        parts.append(f"not confirmed, check PagerDuty: {names}")
    if failed:
        parts.append(f"failed and not retried: {', '.join(dict.fromkeys(failed))}")
    text = "- Paged: " + ("; ".join(parts) if parts else "nobody")
    groups = [page.name for page in incident.pages if page.kind == "group"]
    if groups:
        text += f"\n- Engaged: {', '.join(dict.fromkeys(groups))}"
    return text
