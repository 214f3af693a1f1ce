"""IMOC duty: shift changes, and new IMOC members' first incidents.

The on-call person comes from the IMOC schedule in PagerDuty. The last one
seen is kept in the escalation plugin's storage, so a restart neither misses
a change nor reports an old one again. PagerDuty names people by e-mail, and
[escalation.people] maps those addresses to chat handles. For an address that
is not listed, the bot takes the part before its "@" as the chat name.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from incidentbot.escalation_settings import EscalationSettings
from incidentbot.pagerduty_api import OnCall, PagerDutyError
from incidentbot.paging import PagerDutySetup

log = logging.getLogger(__name__)

ON_CALL_KEY = "imoc_on_call"
FEEDBACK_KEY = "imoc_feedback_sent"


@dataclass(frozen=True)
class ShiftChange:
    user_id: str  # PagerDuty user id of the incoming IMOC
    handle: str  # their chat handle, "@dana"


class ImocDuty:
    def __init__(self, setup: PagerDutySetup, settings: EscalationSettings) -> None:
        self.setup = setup
        self.settings = settings

    @property
    def watches_shifts(self) -> bool:
        return bool(self.settings.imoc_schedule and self.setup.rest)

    def shift_change(self, storage: MutableMapping[str, Any]) -> ShiftChange | None:
        """Return the incoming IMOC when the shift changed since the last look.

        The first look after installation only remembers who is on call, since
        there is nothing to compare with. A failed lookup changes nothing.
        """
        known, entry = self._on_call(self.settings.imoc_schedule)
        if not known:
            return None
        user_id = entry.user_id if entry is not None else ""
        previous = storage.get(ON_CALL_KEY)
        storage[ON_CALL_KEY] = user_id
        if previous is None or previous == user_id or entry is None:
            return None
        return ShiftChange(user_id, self.handle(entry.user_email))

    def handle(self, email: str) -> str:
        mapped = self.settings.people.get(email.lower())
        if mapped:
            return mapped
        return "@" + email.split("@", 1)[0].lower()

    def is_new_imoc(self, person: str, storage: MutableMapping[str, Any]) -> bool:
        """Say whether person is new to IMOC duty and not yet reminded of feedback."""
        listed = f"@{person}" in self.settings.new_imoc
        return listed and person not in storage.get(FEEDBACK_KEY, [])

    def mark_feedback_sent(
        self, person: str, storage: MutableMapping[str, Any]
    ) -> None:
        sent = list(storage.get(FEEDBACK_KEY, []))
        if person not in sent:
            sent.append(person)
        storage[FEEDBACK_KEY] = sent

    def feedback_partners(self) -> tuple[str, str]:
        """Name the engineer on call and the communications manager on call."""
        return (
            self._described("the engineer on call", self.settings.engineer_schedule),
            self._described(
                "the communications manager on call", self.settings.comms_schedule
            ),
        )

    def _described(self, role: str, schedule: str) -> str:
        _, entry = self._on_call(schedule)
        if entry is None:
            return role
        return f"{role} ({self.handle(entry.user_email)})"

    def _on_call(self, schedule: str) -> tuple[bool, OnCall | None]:
        """Return whether the lookup worked, and who is on call (None for no one)."""
        client = self.setup.client
        if client is None or not self.setup.rest or not schedule:
            return False, None
        try:
            entries = client.on_call(schedule_id=schedule)
        except PagerDutyError as error:
            log.warning("could not look up who is on call on %s: %s", schedule, error)
            return False, None
        return True, (entries[0] if entries else None)
