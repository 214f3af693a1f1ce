"""Fields the bot reads from incoming chat messages."""

from types import SimpleNamespace
from typing import Any

from incidentbot.chat_events import message_ts, ts_time


def message(extras: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(extras=extras)


def test_ts_of_plain_message() -> None:
    event = {"type": "message", "ts": "1733300000.000100", "text": "hi"}

    assert message_ts(message({"slack_event": event})) == "1733300000.000100"


def test_ts_of_edit_is_edited_message() -> None:
    event = {
        "type": "message",
        "subtype": "message_changed",
        "ts": "1733300501.000200",
        "message": {"ts": "1733300500.000100", "text": "new text"},
    }

    assert message_ts(message({"slack_event": event})) == "1733300500.000100"


def test_ts_from_extras_without_event() -> None:
    assert message_ts(message({"ts": "1.5"})) == "1.5"
    assert message_ts(message({})) is None


def test_ts_time_rejects_non_numbers() -> None:
    assert ts_time("abc") is None
    at = ts_time("1749255600.000100")
    assert at is not None
    assert at.isoformat().startswith("2025-06-07T00:20:00")
