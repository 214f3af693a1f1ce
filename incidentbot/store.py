"""The incident store: incidents, channel bindings and chat messages.

It sits on any mapping that persists its values, in the bot the Incident
plugin's own Errbot storage. Commands, reaction callbacks and the reminder
poller run on different threads, so every read-modify-write takes the
incident's lock. A change is written back only when the block that made it
finishes without an exception, so a failed GitLab call leaves the stored
incident as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from incidentbot.model import ChatMessage, Incident

INCIDENT_PREFIX = "incident/"
CHANNEL_PREFIX = "channel/"
MESSAGE_PREFIX = "message/"
SEEN_PREFIX = "seen/"


class IncidentNotFound(LookupError):
    """No incident is bound to the channel or known by the reference."""


class IncidentStore:
    """Incidents and what belongs to them, kept in a persistent mapping."""

    def __init__(self, data: MutableMapping[str, Any]) -> None:
        self._data = data
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}

    def lock(self, name: str) -> threading.RLock:
        """Return the lock that serialises changes to one incident or key."""
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())

    # Incidents

    def get(self, ref: str) -> Incident | None:
        """Return a copy of the incident, or None. Changes go through edit()."""
        value = self._data.get(INCIDENT_PREFIX + ref)
        return _with_defaults(copy.deepcopy(value)) if value is not None else None

    def require(self, ref: str) -> Incident:
        incident = self.get(ref)
        if incident is None:
            raise IncidentNotFound(f"no incident {ref} is known to the bot")
        return incident

    def for_channel(self, channel: str) -> Incident | None:
        ref = self._data.get(CHANNEL_PREFIX + channel)
        return self.get(ref) if ref else None

    def all(self) -> list[Incident]:
        refs = [key for key in list(self._data.keys()) if key.startswith("incident/")]
        incidents = [self.get(key[len(INCIDENT_PREFIX) :]) for key in refs]
        found = [incident for incident in incidents if incident is not None]
        return sorted(found, key=lambda incident: incident.declared_at)

    def add(self, incident: Incident) -> None:
        """Store a new incident and bind its channel to it."""
        with self.lock(incident.ref):
            self._data[INCIDENT_PREFIX + incident.ref] = copy.deepcopy(incident)
            self._data[CHANNEL_PREFIX + incident.channel] = incident.ref

    def rebind(self, ref: str, channel: str) -> None:
        """Move an incident to another channel, dropping the old binding."""
        with self.lock(ref):
            incident = self.require(ref)
            self._data.pop(CHANNEL_PREFIX + incident.channel, None)
            incident.channel = channel
            self._data[INCIDENT_PREFIX + ref] = incident
            self._data[CHANNEL_PREFIX + channel] = ref

    def bound_ref(self, channel: str) -> str | None:
        value = self._data.get(CHANNEL_PREFIX + channel)
        return str(value) if value else None

    @contextmanager
    def edit(self, ref: str) -> Iterator[Incident]:
        """Yield a working copy of the incident and store it if the block succeeds.

        The incident's lock is held for the whole block, so two commands on the
        same incident run one after the other.
        """
        with self.lock(ref):
            incident = self.require(ref)
            yield incident
            self._data[INCIDENT_PREFIX + ref] = incident

    # Chat messages

    def put_message(self, message: ChatMessage) -> None:
        self._data[_message_key(message.channel, message.ts)] = message

    def message(self, channel: str, ts: str) -> ChatMessage | None:
        value = self._data.get(_message_key(channel, ts))
        return copy.deepcopy(value) if value is not None else None

    def forget_messages(self, channel: str) -> int:
        """Delete the stored messages of a channel and return how many."""
        prefix = f"{MESSAGE_PREFIX}{channel}/"
        keys = [key for key in list(self._data.keys()) if key.startswith(prefix)]
        for key in keys:
            del self._data[key]
        return len(keys)

    # Deliveries already handled

    def first_delivery(self, event_key: str, now: datetime, keep: timedelta) -> bool:
        """Record an event and return True unless it was recorded before.

        Chat services deliver some events twice; the record outlives a restart
        and is kept for `keep`, longer than the service retries for.
        """
        key = SEEN_PREFIX + event_key
        with self.lock(key):
            seen_at = self._data.get(key)
            if isinstance(seen_at, datetime) and now - seen_at < keep:
                return False
            self._data[key] = now
            return True

    def forget_deliveries(self, now: datetime, keep: timedelta) -> int:
        """Delete delivery records older than `keep` and return how many."""
        old = []
        for key in list(self._data.keys()):
            if not key.startswith(SEEN_PREFIX):
                continue
            seen_at = self._data.get(key)
            if not isinstance(seen_at, datetime) or now - seen_at >= keep:
                old.append(key)
        for key in old:
            del self._data[key]
        return len(old)


def _with_defaults(incident: Incident) -> Incident:
    """Fill in fields that a newer version of the bot added since it was stored.

    Unpickling restores only the attributes that were saved, so a field added
    later would be missing on incidents stored before the upgrade.
    """
    for item in dataclasses.fields(incident):
        if item.name in vars(incident):
            continue
        if item.default is not dataclasses.MISSING:
            setattr(incident, item.name, item.default)
        elif item.default_factory is not dataclasses.MISSING:
            setattr(incident, item.name, item.default_factory())
    return incident


def _message_key(channel: str, ts: str) -> str:
    return f"{MESSAGE_PREFIX}{channel}/{ts}"
