"""The incident plugin's reminders: status-update cadence and message pruning.

Each reminder is a persisted entry of the schedule, so a restart re-arms it.
The reminder for status updates re-reads the incident when it fires, so an
update, a new severity or a mitigation since it was set is taken into account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from incidentbot.incidents import Incidents
from incidentbot.schedule import Reminder, Schedule
from incidentbot.store import IncidentStore
from incidentbot.times import format_age

log = logging.getLogger(__name__)

UPDATE_CADENCE = "update-cadence"
FORGET_MESSAGES = "forget-messages"
# Copies of channel messages are kept this long after resolve, for late pins.
MESSAGE_MEMORY = timedelta(days=7)

# Posts a text to a chat target (the incident's channel).
Say = Callable[[str, str], None]


class IncidentReminders:
    """Arms and runs the reminders of incidents on a schedule."""

    def __init__(
        self,
        incidents: Incidents,
        store: IncidentStore,
        schedule: Schedule,
        say: Say,
        on_closed: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.incidents = incidents
        self.store = store
        self.schedule = schedule
        self.say = say
        # Runs when the bot finds an incident closed on GitLab, as resolving it
        # would (an incident review, for example); returns sentences to post.
        self.on_closed = on_closed
        schedule.on(UPDATE_CADENCE, self._remind_update)
        schedule.on(FORGET_MESSAGES, self._forget_messages)

    def arm_update(self, ref: str) -> None:
        """Set the status-update reminder to the incident's next due time."""
        incident = self.store.get(ref)
        due = self.incidents.update_due(incident) if incident else None
        if due is None:
            self.schedule.cancel(_update_key(ref))
            return
        self.schedule.set(Reminder(_update_key(ref), UPDATE_CADENCE, ref, due))

    def stop_updates(self, ref: str) -> None:
        self.schedule.cancel(_update_key(ref))

    def rearm_all(self) -> None:
        """Arm a status-update reminder for each incident that lacks one."""
        for incident in self.store.all():
            if self.schedule.get(_update_key(incident.ref)) is None:
                self.arm_update(incident.ref)

    def forget_messages_later(self, ref: str, now: datetime) -> None:
        key = f"{FORGET_MESSAGES}/{ref}"
        self.schedule.set(Reminder(key, FORGET_MESSAGES, ref, now + MESSAGE_MEMORY))

    def _remind_update(self, reminder: Reminder, now: datetime) -> datetime | None:
        incident = self.store.get(reminder.ref)
        if incident is None:
            return None
        due = self.incidents.update_due(incident)
        cadence = self.incidents.cadence(incident)
        if due is None or cadence is None:
            return None
        if due > now:
            return due
        if self.incidents.closed_outside(incident.ref):
            notes = self.on_closed(incident.ref) if self.on_closed else []
            self.say(
                incident.chat_target,
                "\n".join(
                    [
                        f"{incident.ref} was closed on GitLab, so the bot stopped "
                        "asking for status updates and counts the incident as "
                        "resolved.",
                        *notes,
                    ]
                ),
            )
            return None
        last = incident.last_update
        since = last.at if last else incident.declared_at
        # NOTE: the lead's chat name is plain text, which notifies no one on
        # Slack, because a mention needs the Slack user id, which the store lacks.
        lead = incident.roles.get("lead", "lead")
        self.say(
            incident.chat_target,
            f"{lead}: the last status update for {incident.ref} was "
            f"{format_age(now - since)} ago, and {incident.severity} asks for one "
            f"every {format_age(cadence)}. Post one with `!incident update <text>`.",
        )
        return now + cadence

    def _forget_messages(self, reminder: Reminder, now: datetime) -> datetime | None:
        incident = self.store.get(reminder.ref)
        if incident is None or incident.state != "resolved":
            return None
        dropped = self.store.forget_messages(incident.channel)
        log.info("dropped %d stored messages of %s", dropped, incident.ref)
        return None


def _update_key(ref: str) -> str:
    return f"{UPDATE_CADENCE}/{ref}"
