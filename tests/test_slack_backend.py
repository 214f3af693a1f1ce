"""Unit tests of the IncidentSlack backend's helpers and config.py's Slack settings."""

from __future__ import annotations

import json
import sqlite3
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
from slack_commands import command_text, has_command
from slack_deliveries import (
    DELIVERIES_FILE,
    RETENTION_SECONDS,
    DeliveryLog,
    event_key,
    slash_command_key,
)

from incidentbot.settings import DEFAULT_SLASH_COMMANDS

# Delivery log


def test_delivery_log_first_time(tmp_path: Path) -> None:
    deliveries = DeliveryLog(tmp_path / DELIVERIES_FILE)

    assert deliveries.first_time("event:Ev01") is True
    assert deliveries.first_time("event:Ev01") is False
    assert deliveries.first_time("event:Ev02") is True


def test_delivery_log_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / DELIVERIES_FILE
    first = DeliveryLog(path)
    first.first_time("event:Ev01")
    first.close()

    reopened = DeliveryLog(path)

    assert reopened.first_time("event:Ev01") is False
    assert reopened.first_time("event:Ev02") is True


def test_delivery_log_prunes_old_keys(tmp_path: Path) -> None:
    now = [1000.0]
    deliveries = DeliveryLog(tmp_path / DELIVERIES_FILE, clock=lambda: now[0])
    deliveries.first_time("event:Ev01")

    now[0] += RETENTION_SECONDS - 1
    assert deliveries.first_time("event:Ev01") is False
    now[0] += 2
    assert deliveries.first_time("event:Ev02") is True
    # Ev01's row was written at 1000, so the insert of Ev02 pruned it.
    assert deliveries.first_time("event:Ev01") is True


def test_delivery_log_rejects_zero_retention(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retention_seconds must be positive, got 0"):
        DeliveryLog(tmp_path / DELIVERIES_FILE, retention_seconds=0)


def test_delivery_log_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / DELIVERIES_FILE

    with pytest.raises(sqlite3.OperationalError, match="Check that BOT_DATA_DIR"):
        DeliveryLog(path)


def test_event_key_needs_event_id() -> None:
    assert event_key({"event_id": "Ev01"}) == "event:Ev01"
    assert event_key({"event": {}}) is None


def test_slash_command_key_fields() -> None:
    payload = {
        "command": "/inc",
        "text": "declare S2 Checkout errors",
        "user_id": "U0ALICE001",
        "channel_id": "C0INC00042",
        "trigger_id": "1.2.abc",
        "response_url": "http://127.0.0.1:1/commands/1",
    }
    same = {**payload, "response_url": "http://127.0.0.1:1/commands/2"}

    assert slash_command_key(payload) == slash_command_key(same)
    for field in ("command", "text", "user_id", "channel_id", "trigger_id"):
        changed = {**payload, field: payload[field] + "x"}
        assert slash_command_key(changed) != slash_command_key(payload), field


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
    payload = {"command": command, "text": text}

    assert command_text(payload, "!", DEFAULT_SLASH_COMMANDS) == expected


def test_command_text_renamed() -> None:
    commands = {"/sre-incident": "incident", "/page": "pd"}

    assert command_text({"command": "/page", "text": "services"}, "!", commands) == (
        "!pd services"
    )
    assert command_text({"command": "/incident", "text": "list"}, "!", commands) is None


@pytest.mark.parametrize(
    ("loaded", "command", "expected"),
    [
        (["incident", "incident_update"], "incident", True),
        (["pd_trigger", "pd_services"], "pd", True),
        (["incident", "pdf_export"], "pd", False),
        ([], "followup", False),
    ],
)
def test_has_command(loaded: list[str], command: str, expected: bool) -> None:
    assert has_command(loaded, command) is expected


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
