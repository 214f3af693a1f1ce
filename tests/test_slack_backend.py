"""Unit tests of the IncidentSlack backend's helpers and config.py's Slack settings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "backends" / "incident_slack"))

from incident_slack import SLACK_API_URL, api_url
from slack_commands import command_text
from slack_deliveries import RecentEvents

# RecentEvents


def test_recent_events_first_time() -> None:
    events = RecentEvents()

    assert events.first_time("Ev01") is True
    assert events.first_time("Ev01") is False
    assert events.first_time("Ev02") is True


def test_recent_events_forget_oldest() -> None:
    events = RecentEvents(capacity=2)
    for event_id in ("Ev01", "Ev02", "Ev03"):
        events.first_time(event_id)

    assert events.first_time("Ev01") is True
    assert events.first_time("Ev03") is False


def test_recent_events_reject_zero_capacity() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1, got 0"):
        RecentEvents(capacity=0)


# Slash commands


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        (
            "/incident",
            "declare S2 Checkout errors",
            "!incident declare S2 Checkout errors",
        ),
        ("/inc", "  status ", "!incident status"),
        ("/INC", "list", "!incident list"),
        ("/incident", "", "!incident"),
        ("/deploy", "now", None),
    ],
)
def test_command_text(command: str, text: str, expected: str | None) -> None:
    assert command_text({"command": command, "text": text}, "!") == expected


# SLACK_API_URL


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, SLACK_API_URL),
        ("", SLACK_API_URL),
        ("http://127.0.0.1:8001/api/", "http://127.0.0.1:8001/api/"),
        ("http://127.0.0.1:8001/api", "http://127.0.0.1:8001/api/"),
    ],
)
def test_api_url(configured: str | None, expected: str) -> None:
    assert api_url(SimpleNamespace(SLACK_API_URL=configured)) == expected


def test_api_url_unset_attribute() -> None:
    assert api_url(SimpleNamespace()) == SLACK_API_URL


def test_api_url_rejects_non_http() -> None:
    with pytest.raises(ValueError, match=r"invalid SLACK_API_URL '127\.0\.0\.1:8001'"):
        api_url(SimpleNamespace(SLACK_API_URL="127.0.0.1:8001"))


# config.py

PRINT_SLACK_SETTINGS = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import config
    print(json.dumps({"BACKEND": config.BACKEND, "URL": config.SLACK_API_URL}))
    """
)


def slack_settings(tmp_path: Path, **variables: str) -> dict[str, Any]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "INCIDENT_DATA_DIR": str(tmp_path / "data"),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SLACK_SETTINGS, str(ROOT)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    settings: dict[str, Any] = json.loads(result.stdout)
    return settings


def test_config_selects_incident_slack(tmp_path: Path) -> None:
    settings = slack_settings(tmp_path)

    assert settings["BACKEND"] == "IncidentSlack"
    assert settings["URL"] is None


def test_config_reads_slack_api_url(tmp_path: Path) -> None:
    settings = slack_settings(tmp_path, SLACK_API_URL=" http://127.0.0.1:8001/api/ ")

    assert settings["URL"] == "http://127.0.0.1:8001/api/"
