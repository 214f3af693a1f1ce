"""Reactions that copy chat messages onto the incident issue as notes.

A reaction named in the settings as public (`pushpin` by default) copies the
message as a public note, one named as internal (`star`) as an internal note.
Each message gets at most one note however many people react and however
often the event arrives. A public copy replaces an internal one, since the
text is then public anyway. Removing the
last reaction of a kind deletes the bot's note of that kind, and an internal
copy comes back if the message still has internal reactions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from incidentbot.gitlab_api import GitLab
from incidentbot.gitlab_text import pinned_note
from incidentbot.incidents import IncidentError, post_note
from incidentbot.model import ChatMessage, Incident, Pin
from incidentbot.settings import Settings
from incidentbot.slack_text import base_reaction
from incidentbot.store import IncidentStore

log = logging.getLogger(__name__)

PUBLIC = "public"
INTERNAL = "internal"


@dataclass(frozen=True)
class PinResult:
    """Kinds of note a reaction created and deleted on GitLab."""

    created: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


class Pins:
    """Turns reaction events in incident channels into GitLab notes."""

    def __init__(
        self, store: IncidentStore, gitlab: GitLab, settings: Settings
    ) -> None:
        self.store = store
        self.gitlab = gitlab
        self.settings = settings

    def kind_of(self, reaction: str) -> str | None:
        """Return public, internal or None for a reaction name as Slack sends it.

        Names are compared exactly after the skin-tone suffix is removed, so
        `round_pushpin` never counts as `pushpin`.
        """
        name = base_reaction(reaction.strip(":"))
        if name in self.settings.public_reactions:
            return PUBLIC
        if name in self.settings.internal_reactions:
            return INTERNAL
        return None

    def react(
        self,
        channel: str,
        ts: str,
        kind: str,
        person: str,
        *,
        added: bool,
        message: ChatMessage | None,
    ) -> PinResult:
        """Apply one reaction added or removed by `person` on message `ts`."""
        ref = self.store.bound_ref(channel)
        if ref is None:
            return PinResult()
        with self.store.edit(ref) as incident:
            pin = incident.pins.get(ts) or Pin(channel=channel, ts=ts)
            people = pin.public_by if kind == PUBLIC else pin.internal_by
            if added:
                people.add(person)
            else:
                people.discard(person)
            if message is not None:
                pin.author = message.author
                pin.posted_at = message.posted_at
                pin.text = message.text
            result = self._reconcile(incident, pin, message)
            if (
                pin.public_by
                or pin.internal_by
                or pin.public_note_id
                or pin.internal_note_id
            ):
                incident.pins[ts] = pin
            else:
                incident.pins.pop(ts, None)
        return result

    def _reconcile(
        self, incident: Incident, pin: Pin, message: ChatMessage | None
    ) -> PinResult:
        want_public = bool(pin.public_by)
        want_internal = bool(pin.internal_by) and not want_public
        created: list[str] = []
        deleted: list[str] = []

        if not want_public and pin.public_note_id is not None:
            self.gitlab.delete_note(incident.project, incident.iid, pin.public_note_id)
            pin.public_note_id = None
            deleted.append(PUBLIC)
        if not want_internal and pin.internal_note_id is not None:
            self.gitlab.delete_note(
                incident.project, incident.iid, pin.internal_note_id
            )
            pin.internal_note_id = None
            deleted.append(INTERNAL)

        if want_public and pin.public_note_id is None:
            pin.public_note_id = self._post(incident, message, internal=False)
            created.append(PUBLIC)
        if want_internal and pin.internal_note_id is None:
            pin.internal_note_id = self._post(incident, message, internal=True)
            created.append(INTERNAL)
        return PinResult(tuple(created), tuple(deleted))

    def _post(
        self, incident: Incident, message: ChatMessage | None, *, internal: bool
    ) -> int | None:
        if message is None:
            raise IncidentError(
                "The bot has no copy of that message (the bot's own messages "
                "and messages from before the bot joined are not kept), so it "
                f"cannot be copied to {incident.ref}. Add it with "
                "`incident timeline add <text>` instead."
            )
        try:
            body = pinned_note(
                message.author,
                message.posted_at,
                message.text,
                message.files,
                internal=internal,
            )
        except ValueError as error:
            raise IncidentError(
                f"Nothing to copy to {incident.ref}: {error}."
            ) from error
        note = post_note(
            self.gitlab, incident.project, incident.iid, body, internal=internal
        )
        log.info(
            "copied message %s to %s as a %s note %s",
            message.ts,
            incident.ref,
            INTERNAL if internal else PUBLIC,
            note.id,
        )
        return note.id
