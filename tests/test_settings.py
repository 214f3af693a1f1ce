"""Tests of loading and validating the TOML settings file."""

import dataclasses
import datetime
from pathlib import Path

import pytest

from incidentbot.settings import (
    SettingsError,
    example_settings_path,
    load_settings,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = example_settings_path().read_text(encoding="utf-8")


def example_with(*replacements: tuple[str, str]) -> str:
    """Return the example file's text with each (old, new) replaced once."""
    text = EXAMPLE
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} must occur once in the example"
        text = text.replace(old, new)
    return text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    return str(raised.value).removeprefix(f"{path}: ")


def test_example_path_is_repository_file() -> None:
    assert example_settings_path() == REPO / "settings.example.toml"


def test_example_loads() -> None:
    settings = load_settings(example_settings_path())

    assert settings.incident_project == "infra/production"
    assert settings.followup_project == "infra/incident-follow-ups"
    assert settings.review_project == "infra/incident-reviews"
    assert settings.gitlab_tier == "free"
    assert settings.timeline_events is True
    assert settings.request_timeout == 10.0
    assert settings.max_retries == 3
    assert settings.max_retry_after == 30.0
    assert settings.state_labels == {
        "active": "Incident::Active",
        "mitigated": "Incident::Mitigated",
        "resolved": "Incident::Resolved",
    }
    assert settings.default_severity == "S3"
    assert settings.channel_prefix == "inc-"
    assert settings.announce_channel == "#incidents"
    assert settings.public_reactions == ("pushpin",)
    assert settings.internal_reactions == ("star",)
    assert settings.reminder_poll_seconds == 30.0


def test_example_severities() -> None:
    severities = load_settings(example_settings_path()).severities

    assert list(severities) == ["S1", "S2", "S3", "S4"]
    assert severities["S1"].level == 1
    assert severities["S1"].label == "severity::1"
    assert severities["S1"].update_cadence == datetime.timedelta(minutes=15)
    assert severities["S1"].page_imoc is True
    assert severities["S3"].update_cadence == datetime.timedelta(hours=1)
    assert severities["S3"].page_imoc is False
    assert severities["S4"].update_cadence is None


def test_example_fields_in_file_order() -> None:
    fields = load_settings(example_settings_path()).fields

    assert list(fields) == [
        "service",
        "root_cause",
        "confidential",
        "impact",
        "root_cause_team",
    ]
    assert fields["service"].kind == "label"
    assert fields["service"].label_prefix == "Service::"
    assert fields["service"].required is True
    assert fields["service"].choices == ()
    assert fields["root_cause"].choices[0] == "Software-Change"
    assert len(fields["root_cause"].choices) == 7
    assert fields["confidential"].kind == "confidential"
    assert fields["confidential"].label_prefix == ""
    assert fields["impact"].kind == "text"
    assert fields["impact"].required is False
    assert fields["impact"].help == "Who was affected and how, in a few words"


def test_example_calendar() -> None:
    calendar = load_settings(example_settings_path()).calendar

    assert calendar.time_zone == "Europe/Berlin"
    assert calendar.country == "DE"
    assert calendar.end_of_day == datetime.time(17, 0)


def test_calendar_subdivision(tmp_path: Path) -> None:
    text = example_with(('country = "DE"', 'country = "DE-BY"'))

    settings = load_settings(write(tmp_path, text))

    assert settings.calendar.country == "DE-BY"


def test_settings_are_frozen() -> None:
    settings = load_settings(example_settings_path())

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.gitlab_tier = "premium"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text", ["S2", "s2", "2", "sev2", "SEV2", "severity::2", " S2 "]
)
def test_severity_accepts_chat_forms(text: str) -> None:
    settings = load_settings(example_settings_path())

    assert settings.severity(text).name == "S2"


def test_severity_rejects_undefined() -> None:
    settings = load_settings(example_settings_path())

    with pytest.raises(ValueError) as raised:
        settings.severity("S9")

    assert str(raised.value) == "invalid severity 'S9': use one of S1, S2, S3, S4"


def test_severity_accepts_custom_label(tmp_path: Path) -> None:
    text = example_with(('label = "severity::1"', 'label = "Sev::Critical"'))

    settings = load_settings(write(tmp_path, text))

    assert settings.severity("sev::critical").name == "S1"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(SettingsError) as raised:
        load_settings(path)

    assert str(raised.value) == (
        f"{path}: settings file not found. Copy settings.example.toml from the "
        "repository root and point INCIDENT_SETTINGS at the copy."
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(tmp_path)

    assert (
        str(raised.value) == f"{tmp_path}: failed to read settings file: Is a directory"
    )


def test_invalid_toml_names_line(tmp_path: Path) -> None:
    text = example_with(("max_retries = 3", "max_retries = = 3"))
    line = text.splitlines().index("max_retries = = 3") + 1

    message = load_error(tmp_path, text)

    assert message.startswith("invalid TOML: ")
    assert f"line {line}" in message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b'[gitlab]\nincident_project = "caf\xe9"\n')

    with pytest.raises(SettingsError) as raised:
        load_settings(path)

    assert str(raised.value) == (
        f"{path}: invalid TOML: the file is not UTF-8 (invalid continuation byte "
        "at byte 32)"
    )


# Each case changes the example file once: (old, new, message after "<file>: ").
MISTAKES = {
    "unknown section": (
        "[reminders]",
        "[reminder]",
        "unknown key reminder: use one of gitlab, labels, severities, incident, "
        "fields, reactions, reminders, calendar, followups, slack, pagerduty, "
        "escalation",
    ),
    "unknown nested key": (
        "update_cadence_minutes = 15",
        "update_cadance_minutes = 15",
        "unknown key severities.S1.update_cadance_minutes: use one of label, "
        "update_cadence_minutes, page_imoc",
    ),
    "unknown field key": (
        'name = "impact"',
        'name = "impact"\nrequried = true',
        "unknown key fields[3].requried: use one of name, kind, label_prefix, "
        "required, choices, help",
    ),
    "missing key": (
        'tier = "free"',
        "",
        'missing gitlab.tier: use "free" or "premium"',
    ),
    "tier": (
        'tier = "free"',
        'tier = "ultimate"',
        'invalid gitlab.tier = "ultimate": use "free" or "premium"',
    ),
    "project without group": (
        'incident_project = "infra/production"',
        'incident_project = "production"',
        'invalid gitlab.incident_project = "production": use a project path such '
        'as "group/project" or a numeric project id',
    ),
    "project empty": (
        'review_project = "infra/incident-reviews"',
        'review_project = ""',
        'invalid gitlab.review_project = "": use a project path such as '
        '"group/project" or a numeric project id',
    ),
    "project with spaces around": (
        'followup_project = "infra/incident-follow-ups"',
        'followup_project = " infra/incident-follow-ups"',
        'invalid gitlab.followup_project = " infra/incident-follow-ups": remove '
        "the leading or trailing spaces",
    ),
    "boolean as string": (
        "timeline_events = true",
        'timeline_events = "yes"',
        'invalid gitlab.timeline_events = "yes": use true or false',
    ),
    "timeout zero": (
        "request_timeout = 10",
        "request_timeout = 0",
        "invalid gitlab.request_timeout = 0: use a number of seconds greater than 0",
    ),
    "timeout boolean": (
        "request_timeout = 10",
        "request_timeout = true",
        "invalid gitlab.request_timeout = true: use a number of seconds greater than 0",
    ),
    "timeout infinite": (
        "request_timeout = 10",
        "request_timeout = inf",
        "invalid gitlab.request_timeout = inf: use a number of seconds greater than 0",
    ),
    "retries negative": (
        "max_retries = 3",
        "max_retries = -1",
        "invalid gitlab.max_retries = -1: use a whole number, 0 for no retries",
    ),
    "retries fractional": (
        "max_retries = 3",
        "max_retries = 2.5",
        "invalid gitlab.max_retries = 2.5: use a whole number, 0 for no retries",
    ),
    "retry after negative": (
        "max_retry_after = 30",
        "max_retry_after = -30",
        "invalid gitlab.max_retry_after = -30: use a number of seconds greater than 0",
    ),
    "state label empty": (
        'mitigated = "Incident::Mitigated"',
        'mitigated = ""',
        'invalid labels.mitigated = "": use a GitLab label name without commas',
    ),
    "state label with comma": (
        'resolved = "Incident::Resolved"',
        'resolved = "Incident::Resolved,Done"',
        'invalid labels.resolved = "Incident::Resolved,Done": use a GitLab label '
        "name without commas",
    ),
    "state labels equal": (
        'resolved = "Incident::Resolved"',
        'resolved = "Incident::Mitigated"',
        'invalid labels.resolved = "Incident::Mitigated": labels.mitigated has the '
        "same label, but each state needs its own",
    ),
    "state missing": (
        'active = "Incident::Active"',
        "",
        "missing labels.active: use a GitLab label name without commas",
    ),
    "severity name lowercase": (
        "[severities.S4]",
        "[severities.s4]",
        "invalid severity name severities.s4: use S followed by one digit, such as S1",
    ),
    "severity name two digits": (
        "[severities.S4]",
        "[severities.S10]",
        "invalid severity name severities.S10: use S followed by one digit, such as S1",
    ),
    "severity label empty": (
        'label = "severity::2"',
        'label = ""',
        'invalid severities.S2.label = "": use a GitLab label name without commas',
    ),
    "severity labels equal": (
        'label = "severity::2"',
        'label = "severity::1"',
        'invalid severities.S2.label = "severity::1": severities.S1 has the same '
        "label, but each severity needs its own",
    ),
    "cadence negative": (
        "update_cadence_minutes = 15",
        "update_cadence_minutes = -5",
        "invalid severities.S1.update_cadence_minutes = -5: use a whole number of "
        "minutes, 0 for never",
    ),
    "cadence as string": (
        "update_cadence_minutes = 30",
        'update_cadence_minutes = "30"',
        'invalid severities.S2.update_cadence_minutes = "30": use a whole number '
        "of minutes, 0 for never",
    ),
    "page imoc as number": (
        "page_imoc = true\n\n[severities.S2]",
        "page_imoc = 1\n\n[severities.S2]",
        "invalid severities.S1.page_imoc = 1: use true or false",
    ),
    "default severity undefined": (
        'default_severity = "S3"',
        'default_severity = "S9"',
        'invalid incident.default_severity = "S9": use one of S1, S2, S3, S4',
    ),
    "channel prefix uppercase": (
        'channel_prefix = "inc-"',
        'channel_prefix = "Inc-"',
        'invalid incident.channel_prefix = "Inc-": use lowercase letters, digits, '
        "hyphens and underscores, as Slack allows in channel names, at most 70 "
        "characters",
    ),
    "channel prefix too long": (
        'channel_prefix = "inc-"',
        f'channel_prefix = "{"i" * 71}"',
        f'invalid incident.channel_prefix = "{"i" * 71}": use lowercase letters, '
        "digits, hyphens and underscores, as Slack allows in channel names, at "
        "most 70 characters",
    ),
    "announce channel without hash": (
        'announce_channel = "#incidents"',
        'announce_channel = "incidents"',
        'invalid incident.announce_channel = "incidents": use a Slack channel such '
        'as "#incidents", or "" for none',
    ),
    "field kind": (
        'kind = "text"\nrequired',
        'kind = "secret"\nrequired',
        'invalid fields[3].kind = "secret": use one of "label", "confidential", "text"',
    ),
    "field name reserved": (
        'name = "impact"',
        'name = "severity"',
        'invalid fields[3].name = "severity": the bot handles the severity '
        "itself, so pick another name",
    ),
    "field name characters": (
        'name = "root_cause"',
        'name = "Root Cause"',
        'invalid fields[1].name = "Root Cause": use lowercase letters, digits and '
        "underscores",
    ),
    "field name duplicate": (
        'name = "impact"',
        'name = "service"',
        'invalid fields[3].name = "service": another field has this name already',
    ),
    "label field without prefix": (
        'label_prefix = "Service::"\n',
        "",
        "missing fields[0].label_prefix: use a GitLab label name without commas",
    ),
    "prefix on text field": (
        'kind = "text"\nrequired',
        'kind = "text"\nlabel_prefix = "Impact::"\nrequired',
        'invalid fields[3].label_prefix = "Impact::": only fields of kind "label" '
        "take a label_prefix, so remove it",
    ),
    "choices on confidential field": (
        'kind = "confidential"',
        'kind = "confidential"\nchoices = ["yes", "no"]',
        'invalid fields[2].choices = ["yes", "no"]: a "confidential" field takes '
        "only true or false, so remove it",
    ),
    "choice with comma": (
        '"Capacity"',
        '"Capacity,Load"',
        'invalid fields[1].choices[5] = "Capacity,Load": use non-empty strings '
        "without surrounding spaces or commas",
    ),
    "choice with spaces around": (
        '"Capacity"',
        '" Capacity"',
        'invalid fields[1].choices[5] = " Capacity": use non-empty strings '
        "without surrounding spaces or commas",
    ),
    "choice duplicate": (
        '"Capacity"',
        '"Security"',
        'invalid fields[1].choices[5] = "Security": remove the duplicate',
    ),
    "second confidential field": (
        'kind = "text"\nrequired',
        'kind = "confidential"\nrequired',
        'invalid fields[3].kind = "confidential": only one field may set the '
        "issue's confidential flag",
    ),
    "field required as string": (
        'required = false\nhelp = "Who',
        'required = "no"\nhelp = "Who',
        'invalid fields[3].required = "no": use true or false',
    ),
    "reaction with colons": (
        'public = ["pushpin"]',
        'public = [":pushpin:"]',
        'invalid reactions.public[0] = ":pushpin:": use emoji names without '
        'colons, such as "pushpin"',
    ),
    "reaction public and internal": (
        'internal = ["star"]',
        'internal = ["eyes", "pushpin"]',
        'invalid reactions.internal[1] = "pushpin": it is also in '
        "reactions.public, but a reaction copies a message either publicly or "
        "internally",
    ),
    "reaction duplicate": (
        'public = ["pushpin"]',
        'public = ["pushpin", "pushpin"]',
        'invalid reactions.public[1] = "pushpin": remove the duplicate',
    ),
    "reactions not a list": (
        'internal = ["star"]',
        'internal = "star"',
        'invalid reactions.internal = "star": expected a list: use emoji names '
        'without colons, such as "pushpin"',
    ),
    "poll seconds zero": (
        "poll_seconds = 30",
        "poll_seconds = 0",
        "invalid reminders.poll_seconds = 0: use a number of seconds greater than 0",
    ),
    "time zone unknown": (
        'time_zone = "Europe/Berlin"',
        'time_zone = "Mars/Olympus_Mons"',
        'invalid calendar.time_zone = "Mars/Olympus_Mons": use an IANA time zone '
        'name such as "Europe/Berlin"',
    ),
    "time zone path": (
        'time_zone = "Europe/Berlin"',
        'time_zone = "../Europe/Berlin"',
        'invalid calendar.time_zone = "../Europe/Berlin": use an IANA time zone '
        'name such as "Europe/Berlin"',
    ),
    "country name": (
        'country = "DE"',
        'country = "Germany"',
        'invalid calendar.country = "Germany": use a two-letter ISO 3166-1 '
        'country code such as "DE", optionally with an ISO 3166-2 subdivision '
        'such as "DE-BY"',
    ),
    "country unknown": (
        'country = "DE"',
        'country = "XX"',
        'invalid calendar.country = "XX": use a two-letter ISO 3166-1 code that '
        'the holidays package covers, such as "DE", optionally with an ISO 3166-2 '
        'subdivision such as "DE-BY"',
    ),
    "country alias": (
        'country = "DE"',
        'country = "UK"',
        'invalid calendar.country = "UK": use a two-letter ISO 3166-1 code that '
        'the holidays package covers, such as "DE", optionally with an ISO 3166-2 '
        'subdivision such as "DE-BY"',
    ),
    "subdivision unknown": (
        'country = "DE"',
        'country = "AT-99"',
        'invalid calendar.country = "AT-99": the holidays package has no '
        'subdivision "99" of AT, so use "AT-1", "AT-2", "AT-3", "AT-4", "AT-5", '
        '"AT-6", "AT-7", "AT-8", "AT-9", or "AT" for the whole country',
    ),
    "end of day hour": (
        'end_of_day = "17:00"',
        'end_of_day = "25:00"',
        'invalid calendar.end_of_day = "25:00": use a 24-hour time such as "17:00"',
    ),
    "end of day datetime": (
        'end_of_day = "17:00"',
        "end_of_day = 2024-01-01T17:00:00",
        "invalid calendar.end_of_day = 2024-01-01T17:00:00: use a 24-hour time "
        'such as "17:00"',
    ),
}


@pytest.mark.parametrize(("old", "new", "expected"), MISTAKES.values(), ids=MISTAKES)
def test_mistake_names_key_and_value(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert load_error(tmp_path, example_with((old, new))) == expected


def without_section(header: str, next_header: str) -> str:
    """Return the example's text without the lines from header to next_header."""
    start = EXAMPLE.index(header)
    end = EXAMPLE.index(next_header, start)
    return EXAMPLE[:start] + EXAMPLE[end:]


def test_section_not_a_table(tmp_path: Path) -> None:
    # A top-level key must come before the first table header.
    text = "reminders = 30\n" + without_section("[reminders]", "[calendar]")

    assert load_error(tmp_path, text) == "invalid reminders = 30: expected a table"


def test_fields_not_tables(tmp_path: Path) -> None:
    text = 'fields = ["service"]\n' + without_section("[[fields]]", "[reactions]")

    assert load_error(tmp_path, text) == (
        'invalid fields = ["service"]: expected [[fields]] tables'
    )


def test_fields_missing(tmp_path: Path) -> None:
    text = without_section("[[fields]]", "[reactions]")

    assert load_error(tmp_path, text) == (
        "missing fields: add [[fields]] tables, or fields = [] for none"
    )


def test_empty_severities(tmp_path: Path) -> None:
    text = EXAMPLE
    for level in range(1, 5):
        start = text.index(f"[severities.S{level}]")
        end = text.index("\n\n", start)
        text = text[:start] + text[end:]
    text = text.replace("[incident]", "[severities]\n\n[incident]")

    assert load_error(tmp_path, text) == (
        "invalid severities = {}: define at least one severity, such as [severities.S1]"
    )


def test_severities_sorted_by_level(tmp_path: Path) -> None:
    # S4 moves to the top of the file but still comes last.
    start = EXAMPLE.index("[severities.S4]")
    end = EXAMPLE.index("\n\n", start)
    block = EXAMPLE[start:end]
    text = EXAMPLE[:start] + EXAMPLE[end:]
    text = text.replace("[severities.S1]", block + "\n\n[severities.S1]")

    settings = load_settings(write(tmp_path, text))

    assert list(settings.severities) == ["S1", "S2", "S3", "S4"]


def test_numeric_project_id(tmp_path: Path) -> None:
    text = example_with(
        ('incident_project = "infra/production"', "incident_project = 42"),
        ('review_project = "infra/incident-reviews"', 'review_project = "7"'),
    )

    settings = load_settings(write(tmp_path, text))

    assert settings.incident_project == "42"
    assert settings.review_project == "7"


def test_optional_values(tmp_path: Path) -> None:
    text = example_with(
        ('announce_channel = "#incidents"', 'announce_channel = ""'),
        ('end_of_day = "17:00"', "end_of_day = 18:30:00"),
        ('tier = "free"', 'tier = "premium"'),
        ("max_retries = 3", "max_retries = 0"),
        ("request_timeout = 10", "request_timeout = 2.5"),
        ('required = false\nhelp = "Who', 'help = "Who'),
    )

    settings = load_settings(write(tmp_path, text))

    assert settings.announce_channel == ""
    assert settings.calendar.end_of_day == datetime.time(18, 30)
    assert settings.gitlab_tier == "premium"
    assert settings.max_retries == 0
    assert settings.request_timeout == 2.5
    assert settings.fields["impact"].required is False


def test_fields_may_be_empty(tmp_path: Path) -> None:
    text = "fields = []\n" + without_section("[[fields]]", "[reactions]")
    # The follow-ups' team field and the escalation's change field name
    # fields, so they go too.
    text = text.replace('team_field = "root_cause_team"', 'team_field = ""')
    text = text.replace('change_field = "root_cause"', 'change_field = ""')

    settings = load_settings(write(tmp_path, text))

    assert settings.fields == {}


def test_example_slash_commands() -> None:
    settings = load_settings(example_settings_path())

    assert settings.slash_commands == {
        "/incident": "incident",
        "/inc": "incident",
        "/pd": "pd",
    }


def test_slash_commands_default_without_slack_table(tmp_path: Path) -> None:
    text = example_settings_path().read_text(encoding="utf-8")
    text = text[: text.index("[slack]")]

    settings = load_settings(write(tmp_path, text))

    assert settings.slash_commands["/incident"] == "incident"
    assert settings.slash_commands["/pd"] == "pd"


def test_renamed_slash_command(tmp_path: Path) -> None:
    text = example_with(('"/incident" = "incident"', '"/sre-incident" = "incident"'))

    settings = load_settings(write(tmp_path, text))

    assert "/incident" not in settings.slash_commands
    assert settings.slash_commands["/sre-incident"] == "incident"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '"/inc" = "incident"',
            '"inc" = "incident"',
            'invalid slack.slash_commands."inc" = "incident": name a slash command',
        ),
        (
            '"/inc" = "incident"',
            '"/Inc" = "incident"',
            'invalid slack.slash_commands."/Inc"',
        ),
        (
            '"/pd" = "pd"',
            '"/pd" = "page"',
            'invalid slack.slash_commands."/pd" = "page": use one of "incident", '
            '"pd", "followup"',
        ),
        (
            "slash_commands = {",
            "slash_command = {",
            "unknown key slack.slash_command: use one of slash_commands",
        ),
    ],
)
def test_bad_slash_commands(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert message in load_error(tmp_path, example_with((old, new)))


def test_example_followups() -> None:
    followups = load_settings(example_settings_path()).followups

    assert followups.paste == "link"
    assert followups.owner_label_prefixes == ("team::", "group::")
    assert followups.review_label == "review-requested"
    assert followups.review_severities == ("S1", "S2")
    assert followups.team_field == "root_cause_team"
    assert followups.engineering_managers["Container Registry"] == "@dana"


def test_followups_default_without_table(tmp_path: Path) -> None:
    text = EXAMPLE[: EXAMPLE.index("[followups]")] + EXAMPLE[EXAMPLE.index("[slack]") :]

    followups = load_settings(write(tmp_path, text)).followups

    assert followups.paste == "link"
    assert followups.review_severities == ("S1", "S2")
    assert followups.engineering_managers == {}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'paste = "link"',
            'paste = "always"',
            'invalid followups.paste = "always": use "link" or "ask"',
        ),
        (
            'review_severities = ["S1", "S2"]',
            'review_severities = ["S1", "S9"]',
            'invalid followups.review_severities[1] = "S9": use severity names '
            "from [severities]: S1, S2, S3, S4",
        ),
        (
            'team_field = "root_cause_team"',
            'team_field = "team"',
            'invalid followups.team_field = "team": use the name of a [[fields]] '
            "entry: service, root_cause, confidential, impact, root_cause_team",
        ),
        (
            '"Gitaly" = "@erin"',
            '"Gitaly" = "erin"',
            'invalid followups.engineering_managers."Gitaly" = "erin": use a Slack '
            'handle such as "@dana" or a user id such as "U0DANA0001"',
        ),
        (
            'review_label = "review-requested"',
            'review_label = "review,requested"',
            'invalid followups.review_label = "review,requested"',
        ),
    ],
)
def test_bad_followups(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert message in load_error(tmp_path, example_with((old, new)))
