"""The incident store on a plain mapping."""

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidentbot.model import ChatMessage, Incident
from incidentbot.store import IncidentNotFound, IncidentStore

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def make_incident(iid: int = 42, channel: str = "C0INC00042") -> Incident:
    return Incident(
        project="sre/incidents",
        iid=iid,
        global_id=1000 + iid,
        web_url=f"https://gitlab.example.com/sre/incidents/-/issues/{iid}",
        title="Checkout errors",
        channel=channel,
        severity="S2",
        declared_at=NOW,
        declared_by="alice",
    )


def test_channel_finds_its_incident() -> None:
    store = IncidentStore({})
    store.add(make_incident())

    found = store.for_channel("C0INC00042")

    assert found is not None
    assert found.ref == "sre/incidents#42"
    assert store.for_channel("C0OTHER") is None


def test_failed_edit_keeps_stored_incident() -> None:
    store = IncidentStore({})
    store.add(make_incident())

    with pytest.raises(RuntimeError), store.edit("sre/incidents#42") as incident:
        incident.severity = "S1"
        raise RuntimeError("GitLab answered 500")

    stored = store.get("sre/incidents#42")
    assert stored is not None
    assert stored.severity == "S2"


def test_edit_of_unknown_incident() -> None:
    store = IncidentStore({})

    with (
        pytest.raises(IncidentNotFound, match="sre/incidents#7"),
        store.edit("sre/incidents#7"),
    ):
        pass


def test_get_returns_a_copy() -> None:
    store = IncidentStore({})
    store.add(make_incident())

    copy = store.require("sre/incidents#42")
    copy.roles["lead"] = "mallory"

    assert store.require("sre/incidents#42").roles == {}


def test_concurrent_edits_lose_nothing() -> None:
    store = IncidentStore({})
    store.add(make_incident())

    def add_fields(prefix: str) -> None:
        for number in range(50):
            with store.edit("sre/incidents#42") as incident:
                incident.fields[f"{prefix}{number}"] = "x"

    threads = [threading.Thread(target=add_fields, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(store.require("sre/incidents#42").fields) == 200


def test_repeated_delivery_is_recognised() -> None:
    data: dict[str, Any] = {}
    store = IncidentStore(data)
    keep = timedelta(minutes=15)

    assert store.first_delivery("event:Ev0DUP0001", NOW, keep) is True
    assert (
        store.first_delivery("event:Ev0DUP0001", NOW + timedelta(minutes=5), keep)
        is False
    )
    restarted = IncidentStore(data)
    assert (
        restarted.first_delivery("event:Ev0DUP0001", NOW + timedelta(minutes=6), keep)
        is False
    )
    assert (
        restarted.first_delivery("event:Ev0DUP0001", NOW + timedelta(minutes=16), keep)
        is True
    )


def test_old_delivery_records_are_dropped() -> None:
    store = IncidentStore({})
    keep = timedelta(minutes=15)
    store.first_delivery("event:a", NOW, keep)
    store.first_delivery("event:b", NOW + timedelta(minutes=10), keep)

    assert store.forget_deliveries(NOW + timedelta(minutes=20), keep) == 1
    assert store.first_delivery("event:b", NOW + timedelta(minutes=20), keep) is False


def test_messages_by_channel_and_ts() -> None:
    store = IncidentStore({})
    message = ChatMessage(
        "C0INC00042", "1733303000.000100", "carol", NOW, "db-2 is back"
    )
    store.put_message(message)

    assert store.message("C0INC00042", "1733303000.000100") == message
    assert store.message("C0INC00042", "1733303000.000200") is None
    assert store.forget_messages("C0INC00042") == 1
    assert store.message("C0INC00042", "1733303000.000100") is None


def test_rebind_moves_the_channel() -> None:
    store = IncidentStore({})
    store.add(make_incident(channel="dm:alice"))

    store.rebind("sre/incidents#42", "C0INC00042")

    assert store.bound_ref("dm:alice") is None
    assert store.bound_ref("C0INC00042") == "sre/incidents#42"


def test_incident_from_older_version_gets_defaults() -> None:
    data: dict[str, Any] = {}
    store = IncidentStore(data)
    store.add(make_incident())
    stored = data["incident/sre/incidents#42"]
    del stored.__dict__["follow_ups"]

    incident = store.require("sre/incidents#42")

    assert incident.follow_ups == []
