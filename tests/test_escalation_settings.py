"""Tests of the [pagerduty] and [escalation] tables of the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentbot.settings import SettingsError, example_settings_path, load_settings

EXAMPLE = example_settings_path().read_text(encoding="utf-8")
CMOC_KEY_LINE = 'routing_key = "sandboxcmocroutingkey00000000000"'
KEY_VARIABLE = "PAGERDUTY_KEY_CMOC"
# Looks like an integration key, so a message that leaks it would be seen.
SECRET_KEY = "R0ut1ngKeyThatMustStayOutOfLogs9"


def example_with(old: str, new: str) -> str:
    """Return the example file's text with old, which occurs once, replaced."""
    assert EXAMPLE.count(old) == 1, f"{old!r} must occur once in the example"
    return EXAMPLE.replace(old, new)


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    return path, str(raised.value)


def test_example_escalation_loads() -> None:
    escalation = load_settings(example_settings_path()).escalation

    assert list(escalation.services) == ["imoc", "cmoc", "eoc", "liaison"]
    assert escalation.imoc_service == "imoc"
    assert escalation.imoc_schedule == "PSIMOC1"
    assert escalation.limits.max_retries == 3
    assert (
        escalation.team("dotcom leadership escalation")
        is escalation.teams["leadership"]
    )
    assert escalation.pagers == ("@dana",)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'imoc_service = "imoc"',
            'imoc_service = "incident-manager"',
            'invalid escalation.imoc_service = "incident-manager": use a key of '
            "[pagerduty.services]: imoc, cmoc, eoc, liaison",
        ),
        (
            CMOC_KEY_LINE,
            'routing_key = "cmoc key"',
            'invalid pagerduty.services.cmoc.routing_key = "cmoc key": use the '
            "32-character integration key of the service's Events API v2 "
            "integration",
        ),
        (
            'leadership_team = "leadership"',
            'leadership_team = "directors"',
            'invalid escalation.leadership_team = "directors": use a key of '
            "[escalation.teams]: leadership",
        ),
        (
            'imoc_schedule = "PSIMOC1"',
            'imoc_schedule = "imoc rotation"',
            'invalid escalation.imoc_schedule = "imoc rotation": use a PagerDuty '
            "id such as PABC123",
        ),
        (
            'pagers = ["@dana"]',
            'pagers = ["dana"]',
            'invalid escalation.pagers[0] = "dana": use chat handles such as '
            '"@dana" or Slack user ids',
        ),
        (
            "[pagerduty]\n",
            "[pagerduty]\nmax_retries = -1\n",
            "invalid pagerduty.max_retries = -1: use a whole number, 0 for no retries",
        ),
    ],
)
def test_invalid_value_names_file_key_and_fix(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path, error = load_error(tmp_path, example_with(old, new))

    assert error.startswith(f"{path}: ")
    assert message in error


def test_routing_key_and_env_together(tmp_path: Path) -> None:
    text = example_with(
        CMOC_KEY_LINE, f'{CMOC_KEY_LINE}\nrouting_key_env = "{KEY_VARIABLE}"'
    )

    path, error = load_error(tmp_path, text)

    assert error.startswith(f"{path}: [pagerduty.services.cmoc] ")
    assert "needs exactly one of routing_key and routing_key_env" in error


def test_routing_key_env_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    text = example_with(CMOC_KEY_LINE, f'routing_key_env = "{KEY_VARIABLE}"')

    path, error = load_error(tmp_path, text)

    assert error == (
        f'{path}: invalid pagerduty.services.cmoc.routing_key_env = "{KEY_VARIABLE}": '
        f"set the environment variable {KEY_VARIABLE} to the service's integration key"
    )


def test_routing_key_env_invalid_value_stays_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Longer than the 64 characters an integration key may have.
    leaked = SECRET_KEY * 3
    monkeypatch.setenv(KEY_VARIABLE, leaked)
    text = example_with(CMOC_KEY_LINE, f'routing_key_env = "{KEY_VARIABLE}"')

    path, error = load_error(tmp_path, text)

    assert error.startswith(
        f"{path}: invalid pagerduty.services.cmoc.routing_key_env = "
        f'"{KEY_VARIABLE}": set the environment variable {KEY_VARIABLE}'
    )
    assert SECRET_KEY not in error


def test_routing_key_env_value_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, SECRET_KEY)
    path = tmp_path / "settings.toml"
    path.write_text(
        example_with(CMOC_KEY_LINE, f'routing_key_env = "{KEY_VARIABLE}"'),
        encoding="utf-8",
    )

    settings = load_settings(path)

    assert settings.escalation.services["cmoc"].routing_key == SECRET_KEY
    assert SECRET_KEY not in repr(settings.escalation)
