"""The IMOC's checklist for a Severity 1 incident, ticked from what happened.

Most items tick themselves: a confirmed page of the leadership team or of the
Infrastructure Liaison, a mention of the release managers, a comms role, an
incident review issue. "Senior coordinator considered" is a judgement, so
only a person ticks it, and any item can be ticked by hand for work done
outside the bot (`incident checklist done <item>`).
"""

from __future__ import annotations

from dataclasses import dataclass

from incidentbot.escalation_settings import EscalationSettings
from incidentbot.model import Incident


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    # Why it counts as done ("" while open), whether it applies at all, and
    # whether the IMOC is reminded of it while it is open.
    done: str = ""
    applies: bool = True
    remind: bool = True

    @property
    def open(self) -> bool:
        return self.applies and not self.done


ITEM_KEYS = ("leadership", "coordinator", "liaison", "release", "comms", "review")


def checklist(incident: Incident, settings: EscalationSettings) -> list[Item]:
    """Return the checklist items of an incident, each ticked or not."""
    ticks = incident.checklist_ticks
    change = _change_suspected(incident, settings)
    comms = incident.roles.get("comms")
    comms_done = f"comms role: {comms}" if comms else ""
    review = incident.review_issue
    review_done = f"review issue {review}" if review else ""
    return [
        Item(
            "leadership",
            "Leadership notified",
            ticks.get("leadership") or _page_done(incident, settings.leadership_team),
        ),
        Item(
            "coordinator",
            "Senior coordinator considered",
            ticks.get("coordinator", ""),
        ),
        Item(
            "liaison",
            "Infrastructure Liaison paged",
            ticks.get("liaison") or _page_done(incident, settings.liaison_service),
        ),
        Item(
            "release",
            "Release managers engaged (when a change is the suspected cause)",
            ticks.get("release")
            or _page_done(incident, settings.release_managers_group),
            applies=change is not False,
            # Until the cause field names a change, the item may not apply.
            remind=change is True,
        ),
        Item(
            "comms",
            "Communications confirmed",
            ticks.get("comms") or comms_done,
        ),
        Item(
            "review",
            "Incident review started",
            ticks.get("review") or review_done,
        ),
    ]


def open_items(incident: Incident, settings: EscalationSettings) -> list[Item]:
    """Return the items to remind the IMOC of."""
    return [item for item in checklist(incident, settings) if item.open and item.remind]


def checklist_text(incident: Incident, settings: EscalationSettings) -> str:
    lines = [f"IMOC checklist of {incident.ref}:"]
    for item in checklist(incident, settings):
        if item.done:
            lines.append(f"- [x] {item.text} ({item.done})")
        elif not item.applies:
            lines.append(f"- [ ] {item.text}: not needed, the cause is no change")
        else:
            lines.append(f"- [ ] {item.text} (`{item.key}`)")
    lines.append(
        "Tick an item done outside the bot with `incident checklist done <item>`."
    )
    return "\n".join(lines)


def _page_done(incident: Incident, target: str) -> str:
    if not target:
        return ""
    for page in incident.pages:
        if page.target == target and page.reached:
            return f"{page.by} at {page.at:%H:%M} UTC"
    return ""


def _change_suspected(incident: Incident, settings: EscalationSettings) -> bool | None:
    """Return whether the cause field names a change, or None while it is empty."""
    if not settings.change_field:
        return None
    value = incident.fields.get(settings.change_field, "")
    if not value:
        return None
    changes = {item.casefold() for item in settings.change_values}
    return value.casefold() in changes
