"""Load and validate the bot's TOML settings file.

settings.example.toml at the repository root documents every key. Every key it
shows is required, except the optional keys of a field (label_prefix for kinds
other than "label", required, choices and help) and the [followups], [slack],
[pagerduty] and [escalation] tables.
Unknown keys are errors because they are usually typos of known ones.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incidentbot import business_days
from incidentbot.escalation_settings import (
    EscalationSettings,
    PagerDutyLimits,
    parse_escalation,
    parse_pagerduty,
)

GITLAB_TIERS = ("free", "premium")
STATE_NAMES = ("active", "mitigated", "resolved")
FIELD_KINDS = ("label", "confidential", "text")
# The bot sets the severity itself (label and history), so no field may use it.
RESERVED_FIELD_NAMES = ("severity",)

# Slack allows at most 80 characters in a channel name, and an incident channel
# is <channel_prefix><issue iid>, so the prefix leaves room for a long iid.
MAX_CHANNEL_PREFIX_LENGTH = 70

_SEVERITY_NAME = re.compile(r"S[0-9]")
# Forms of a severity accepted in chat, matched after lowercasing.
_SEVERITY_TEXT = re.compile(r"(?:s|sev|severity::)?([0-9])")
_FIELD_NAME = re.compile(r"[a-z0-9_]+")
_PROJECT = re.compile(r"[0-9]+|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+")
_CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Slack emoji names: lowercase letters, digits and - _ + '
_REACTION_NAME = re.compile(r"[a-z0-9_+'-]+")
_TEXT_CHOICE = re.compile(r"\S(?:.*\S)?")
_LABEL_CHOICE = re.compile(r"[^,\s](?:[^,]*[^,\s])?")
# An ISO 3166-1 alpha-2 country code, optionally with an ISO 3166-2
# subdivision of at most three letters or digits ("DE-BY").
_COUNTRY_CODE = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?")
# A Slack handle ("@dana") or user id ("U0DANA0001").
_SLACK_HANDLE = re.compile(r"@[a-z0-9._-]{1,80}|[UW][A-Z0-9]{2,}")
# Slack slash command names: a slash, then at most 31 lowercase letters,
# digits, hyphens or underscores.
_SLASH_COMMAND = re.compile(r"/[a-z0-9_-]{1,31}")
# Chat commands a slash command may run: the plugins' top-level commands.
SLASH_TARGETS = ("incident", "pd", "followup")
DEFAULT_SLASH_COMMANDS = {"/incident": "incident", "/inc": "incident", "/pd": "pd"}
_CLOCK_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")


class SettingsError(Exception):
    """The settings file is missing, is not valid TOML, or contains an invalid value."""


@dataclass(frozen=True)
class Severity:
    """An incident severity: its name ("S1"), level (1) and GitLab label."""

    name: str
    level: int
    label: str
    # How often the lead must post a status update, or None for never.
    update_cadence: datetime.timedelta | None
    page_imoc: bool


PASTE_MODES = ("link", "ask")


@dataclass(frozen=True)
class FollowupSettings:
    """The settings of follow-up linking and review."""

    # "link": a pasted issue link becomes a follow-up at once; "ask": the bot
    # asks in the message's thread and `followup link <ref>` confirms.
    paste: str = "link"
    # A follow-up needs a label starting with one of these to pass review.
    owner_label_prefixes: tuple[str, ...] = ("team::", "group::")
    review_label: str = "review-requested"
    review_severities: tuple[str, ...] = ("S1", "S2")
    # The incident field that names the team owning the root cause, and the
    # engineering manager (Slack handle or user id) of each team.
    team_field: str = ""
    engineering_managers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Field:
    """An incident field that `incident field <name> <value>` sets."""

    name: str
    kind: str  # one of FIELD_KINDS
    label_prefix: str  # empty unless kind is "label"
    required: bool
    choices: tuple[str, ...]  # empty for any value
    help: str


@dataclass(frozen=True)
class Calendar:
    """The lead's working calendar, used for follow-up deadlines."""

    time_zone: str
    country: str  # ISO 3166-1 alpha-2 code, optionally with a subdivision: "DE-BY"
    end_of_day: datetime.time


@dataclass(frozen=True)
class Settings:
    """The validated contents of a settings file."""

    incident_project: str
    followup_project: str
    review_project: str
    gitlab_tier: str
    timeline_events: bool
    request_timeout: float  # seconds
    max_retries: int
    max_retry_after: float  # seconds
    state_labels: dict[str, str]  # keyed by STATE_NAMES
    severities: dict[str, Severity]  # keyed by name, in ascending level
    default_severity: str
    channel_prefix: str
    announce_channel: str  # empty for none
    fields: dict[str, Field]  # in file order
    public_reactions: tuple[str, ...]
    internal_reactions: tuple[str, ...]
    reminder_poll_seconds: float
    calendar: Calendar
    followups: FollowupSettings = field(default_factory=FollowupSettings)
    # Slack slash command ("/inc") to the chat command it runs ("incident").
    slash_commands: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_SLASH_COMMANDS)
    )
    escalation: EscalationSettings = field(default_factory=EscalationSettings)

    def severity(self, text: str) -> Severity:
        """Return the severity that chat text such as "S2", "sev2" or "2" names.

        The severity's GitLab label, such as "severity::2", is accepted too.
        Raises ValueError naming the text and the defined severities.
        """
        cleaned = text.strip().lower()
        match = _SEVERITY_TEXT.fullmatch(cleaned)
        if match is not None:
            name = "S" + match.group(1)
            if name in self.severities:
                return self.severities[name]
        for severity in self.severities.values():
            if severity.label.lower() == cleaned:
                return severity
        allowed = ", ".join(self.severities)
        raise ValueError(f"invalid severity {text!r}: use one of {allowed}")


def example_settings_path() -> Path:
    """Return the path of settings.example.toml at the repository root."""
    return Path(__file__).resolve().parent.parent / "settings.example.toml"


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate a settings file.

    Raises SettingsError whose message names the file, the dotted key, the
    invalid value and what is allowed there.
    """
    file = Path(path)
    try:
        with file.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError:
        raise SettingsError(
            f"{file}: settings file not found. Copy settings.example.toml from "
            "the repository root and point INCIDENT_SETTINGS at the copy."
        ) from None
    except OSError as error:
        raise SettingsError(
            f"{file}: failed to read settings file: {error.strerror}"
        ) from error
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"{file}: invalid TOML: the file is not UTF-8 "
            f"({error.reason} at byte {error.start})"
        ) from error
    except tomllib.TOMLDecodeError as error:
        # The message of TOMLDecodeError ends in "(at line L, column C)".
        raise SettingsError(f"{file}: invalid TOML: {error}") from error
    return _parse(_Table(file, data, ""))


class _Table:
    """A TOML table being read, with its dotted key for error messages."""

    def __init__(self, file: Path, data: dict[str, Any], prefix: str) -> None:
        self.file = file
        self.data = data
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def invalid(self, key: str, value: Any, hint: str) -> SettingsError:
        return SettingsError(f"{self.file}: invalid {key} = {_show(value)}: {hint}")

    def check_keys(self, *allowed: str) -> None:
        """Raise on the first key that is not allowed, which is usually a typo."""
        for name in self.data:
            if name not in allowed:
                raise SettingsError(
                    f"{self.file}: unknown key {self.key(name)}: "
                    f"use one of {', '.join(allowed)}"
                )

    def value(self, name: str, hint: str) -> Any:
        if name not in self.data:
            raise SettingsError(f"{self.file}: missing {self.key(name)}: {hint}")
        return self.data[name]

    def table(self, name: str) -> _Table:
        value = self.value(name, f"add a [{self.key(name)}] table")
        if not isinstance(value, dict):
            raise self.invalid(self.key(name), value, "expected a table")
        return _Table(self.file, value, self.key(name))

    def text(
        self, name: str, hint: str, *, pattern: re.Pattern[str] | None = None
    ) -> str:
        value = self.value(name, hint)
        if not isinstance(value, str) or not value.strip():
            raise self.invalid(self.key(name), value, hint)
        if value != value.strip():
            raise self.invalid(
                self.key(name), value, "remove the leading or trailing spaces"
            )
        if pattern is not None and not pattern.fullmatch(value):
            raise self.invalid(self.key(name), value, hint)
        return value

    def optional_text(self, name: str, hint: str, default: str) -> str:
        if name not in self.data:
            return default
        value = self.data[name]
        if not isinstance(value, str):
            raise self.invalid(self.key(name), value, hint)
        return value

    def optional_field(self, name: str, fields: dict[str, Field]) -> str:
        """Read the optional name of a [[fields]] entry, "" when missing."""
        value = self.optional_text(name, "use a field name", "")
        if value and value not in fields:
            raise self.invalid(
                self.key(name),
                value,
                f"use the name of a [[fields]] entry: {', '.join(fields)}",
            )
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool:
        hint = "use true or false"
        if default is not None and name not in self.data:
            return default
        value = self.value(name, hint)
        if not isinstance(value, bool):
            raise self.invalid(self.key(name), value, hint)
        return value

    def integer(self, name: str, hint: str, minimum: int) -> int:
        value = self.value(name, hint)
        # bool is a subclass of int, but `true` is no count.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.invalid(self.key(name), value, hint)
        return value

    def positive_number(self, name: str, hint: str) -> float:
        value = self.value(name, hint)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise self.invalid(self.key(name), value, hint)
        return float(value)

    def string_list(
        self, name: str, hint: str, pattern: re.Pattern[str]
    ) -> tuple[str, ...]:
        value = self.value(name, f"add a list: {hint}")
        if not isinstance(value, list):
            raise self.invalid(self.key(name), value, f"expected a list: {hint}")
        items: list[str] = []
        for index, item in enumerate(value):
            key = f"{self.key(name)}[{index}]"
            if not isinstance(item, str) or not pattern.fullmatch(item):
                raise self.invalid(key, item, hint)
            if item in items:
                raise self.invalid(key, item, "remove the duplicate")
            items.append(item)
        return tuple(items)


def _parse(root: _Table) -> Settings:
    root.check_keys(
        "gitlab",
        "labels",
        "severities",
        "incident",
        "fields",
        "reactions",
        "reminders",
        "calendar",
        "followups",
        "slack",
        "pagerduty",
        "escalation",
    )
    # Sections are read in the order of settings.example.toml, so the first
    # error reported is the first one in a file laid out like the example.
    gitlab = root.table("gitlab")
    gitlab.check_keys(
        "incident_project",
        "followup_project",
        "review_project",
        "tier",
        "timeline_events",
        "request_timeout",
        "max_retries",
        "max_retry_after",
    )
    incident_project = _project(gitlab, "incident_project")
    followup_project = _project(gitlab, "followup_project")
    review_project = _project(gitlab, "review_project")
    tier = gitlab.text(
        "tier", 'use "free" or "premium"', pattern=re.compile("|".join(GITLAB_TIERS))
    )
    timeline_events = gitlab.boolean("timeline_events")
    request_timeout = gitlab.positive_number(
        "request_timeout", "use a number of seconds greater than 0"
    )
    max_retries = gitlab.integer(
        "max_retries", "use a whole number, 0 for no retries", minimum=0
    )
    max_retry_after = gitlab.positive_number(
        "max_retry_after", "use a number of seconds greater than 0"
    )

    state_labels = _parse_state_labels(root.table("labels"))
    severities = _parse_severities(root.table("severities"))

    incident = root.table("incident")
    incident.check_keys("default_severity", "channel_prefix", "announce_channel")
    default_severity = _default_severity(incident, severities)
    channel_prefix = _channel_prefix(incident)
    announce_channel = _announce_channel(incident)

    fields = _parse_fields(root)
    public_reactions, internal_reactions = _parse_reactions(root.table("reactions"))

    reminders = root.table("reminders")
    reminders.check_keys("poll_seconds")
    poll_seconds = reminders.positive_number(
        "poll_seconds", "use a number of seconds greater than 0"
    )

    calendar = _parse_calendar(root.table("calendar"))
    followups = (
        _parse_followups(root.table("followups"), severities, fields)
        if "followups" in root.data
        else FollowupSettings()
    )
    slash_commands = (
        _parse_slash_commands(root.table("slack"))
        if "slack" in root.data
        else dict(DEFAULT_SLASH_COMMANDS)
    )

    limits, services = (
        parse_pagerduty(root.table("pagerduty"))
        if "pagerduty" in root.data
        else (PagerDutyLimits(), {})
    )
    escalation = (
        parse_escalation(root.table("escalation"), services, limits, fields)
        if "escalation" in root.data
        else EscalationSettings(limits=limits, services=services)
    )

    return Settings(
        incident_project=incident_project,
        followup_project=followup_project,
        review_project=review_project,
        gitlab_tier=tier,
        timeline_events=timeline_events,
        request_timeout=request_timeout,
        max_retries=max_retries,
        max_retry_after=max_retry_after,
        state_labels=state_labels,
        severities=severities,
        default_severity=default_severity,
        channel_prefix=channel_prefix,
        announce_channel=announce_channel,
        fields=fields,
        public_reactions=public_reactions,
        internal_reactions=internal_reactions,
        reminder_poll_seconds=poll_seconds,
        calendar=calendar,
        followups=followups,
        slash_commands=slash_commands,
        escalation=escalation,
    )


def _project(table: _Table, name: str) -> str:
    hint = 'use a project path such as "group/project" or a numeric project id'
    value = table.value(name, hint)
    # A numeric id may be written as a TOML integer or as a string.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    return table.text(name, hint, pattern=_PROJECT)


def _label(table: _Table, name: str) -> str:
    hint = "use a GitLab label name without commas"
    label = table.text(name, hint)
    # The GitLab API takes label lists as comma-separated strings.
    if "," in label:
        raise table.invalid(table.key(name), label, hint)
    return label


def _parse_state_labels(table: _Table) -> dict[str, str]:
    table.check_keys(*STATE_NAMES)
    labels: dict[str, str] = {}
    for state in STATE_NAMES:
        label = _label(table, state)
        for other_state, other_label in labels.items():
            if label == other_label:
                raise table.invalid(
                    table.key(state),
                    label,
                    f"{table.key(other_state)} has the same label, "
                    "but each state needs its own",
                )
        labels[state] = label
    return labels


def _parse_severities(table: _Table) -> dict[str, Severity]:
    if not table.data:
        raise table.invalid(
            table.prefix, {}, "define at least one severity, such as [severities.S1]"
        )
    parsed: list[Severity] = []
    for name in table.data:
        if not _SEVERITY_NAME.fullmatch(name):
            raise SettingsError(
                f"{table.file}: invalid severity name {table.key(name)}: "
                "use S followed by one digit, such as S1"
            )
        severity = _parse_severity(table.table(name), name)
        for other in parsed:
            if severity.label == other.label:
                raise table.invalid(
                    f"{table.key(name)}.label",
                    severity.label,
                    f"{table.key(other.name)} has the same label, "
                    "but each severity needs its own",
                )
        parsed.append(severity)
    parsed.sort(key=lambda severity: severity.level)
    return {severity.name: severity for severity in parsed}


def _parse_severity(table: _Table, name: str) -> Severity:
    table.check_keys("label", "update_cadence_minutes", "page_imoc")
    minutes = table.integer(
        "update_cadence_minutes", "use a whole number of minutes, 0 for never", 0
    )
    return Severity(
        name=name,
        level=int(name[1:]),
        label=_label(table, "label"),
        update_cadence=datetime.timedelta(minutes=minutes) if minutes else None,
        page_imoc=table.boolean("page_imoc"),
    )


def _default_severity(table: _Table, severities: dict[str, Severity]) -> str:
    hint = f"use one of {', '.join(severities)}"
    name = table.text("default_severity", hint)
    if name not in severities:
        raise table.invalid(table.key("default_severity"), name, hint)
    return name


def _channel_prefix(table: _Table) -> str:
    hint = (
        "use lowercase letters, digits, hyphens and underscores, as Slack allows "
        f"in channel names, at most {MAX_CHANNEL_PREFIX_LENGTH} characters"
    )
    prefix = table.text("channel_prefix", hint, pattern=_CHANNEL_NAME)
    if len(prefix) > MAX_CHANNEL_PREFIX_LENGTH:
        raise table.invalid(table.key("channel_prefix"), prefix, hint)
    return prefix


def _announce_channel(table: _Table) -> str:
    hint = 'use a Slack channel such as "#incidents", or "" for none'
    channel = table.value("announce_channel", hint)
    if channel == "":
        return channel
    if (
        not isinstance(channel, str)
        or not channel.startswith("#")
        or not _CHANNEL_NAME.fullmatch(channel[1:])
    ):
        raise table.invalid(table.key("announce_channel"), channel, hint)
    return channel


def _parse_fields(root: _Table) -> dict[str, Field]:
    entries = root.value("fields", "add [[fields]] tables, or fields = [] for none")
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) for entry in entries
    ):
        raise root.invalid("fields", entries, "expected [[fields]] tables")
    fields: dict[str, Field] = {}
    for index, entry in enumerate(entries):
        table = _Table(root.file, entry, f"fields[{index}]")
        field = _parse_field(table)
        if field.name in fields:
            raise table.invalid(
                table.key("name"), field.name, "another field has this name already"
            )
        if field.kind == "confidential" and any(
            other.kind == "confidential" for other in fields.values()
        ):
            raise table.invalid(
                table.key("kind"),
                field.kind,
                "only one field may set the issue's confidential flag",
            )
        fields[field.name] = field
    return fields


def _parse_field(table: _Table) -> Field:
    table.check_keys("name", "kind", "label_prefix", "required", "choices", "help")
    name = table.text(
        "name",
        "use lowercase letters, digits and underscores",
        pattern=_FIELD_NAME,
    )
    if name in RESERVED_FIELD_NAMES:
        raise table.invalid(
            table.key("name"),
            name,
            "the bot handles the severity itself, so pick another name",
        )
    kind_hint = "use one of " + ", ".join(f'"{kind}"' for kind in FIELD_KINDS)
    kind = table.value("kind", kind_hint)
    if kind not in FIELD_KINDS:
        raise table.invalid(table.key("kind"), kind, kind_hint)

    label_prefix = ""
    if kind == "label":
        label_prefix = _label(table, "label_prefix")
    elif "label_prefix" in table.data:
        raise table.invalid(
            table.key("label_prefix"),
            table.data["label_prefix"],
            'only fields of kind "label" take a label_prefix, so remove it',
        )

    choices: tuple[str, ...] = ()
    if "choices" in table.data:
        if kind == "confidential":
            raise table.invalid(
                table.key("choices"),
                table.data["choices"],
                'a "confidential" field takes only true or false, so remove it',
            )
        if kind == "label":
            # A label field's choices end up in labels, which must not hold commas.
            choices = table.string_list(
                "choices",
                "use non-empty strings without surrounding spaces or commas",
                _LABEL_CHOICE,
            )
        else:
            choices = table.string_list(
                "choices",
                "use non-empty strings without surrounding spaces",
                _TEXT_CHOICE,
            )

    return Field(
        name=name,
        kind=kind,
        label_prefix=label_prefix,
        required=table.boolean("required", default=False),
        choices=choices,
        help=table.optional_text("help", "use a string", default=""),
    )


def _parse_reactions(table: _Table) -> tuple[tuple[str, ...], tuple[str, ...]]:
    table.check_keys("public", "internal")
    hint = 'use emoji names without colons, such as "pushpin"'
    public = table.string_list("public", hint, _REACTION_NAME)
    internal = table.string_list("internal", hint, _REACTION_NAME)
    for index, name in enumerate(internal):
        if name in public:
            raise table.invalid(
                f"{table.key('internal')}[{index}]",
                name,
                f"it is also in {table.key('public')}, "
                "but a reaction copies a message either publicly or internally",
            )
    return public, internal


def _parse_followups(
    table: _Table, severities: dict[str, Severity], fields: dict[str, Field]
) -> FollowupSettings:
    table.check_keys(
        "paste",
        "owner_label_prefixes",
        "review_label",
        "review_severities",
        "team_field",
        "engineering_managers",
    )
    paste = table.text(
        "paste",
        'use "link" or "ask"',
        pattern=re.compile("|".join(PASTE_MODES)),
    )
    prefixes = table.string_list(
        "owner_label_prefixes",
        'use label prefixes such as "team::"',
        _LABEL_CHOICE,
    )
    review_label = _label(table, "review_label")
    names = ", ".join(severities)
    review_severities = table.string_list(
        "review_severities",
        f"use severity names from [severities]: {names}",
        re.compile("|".join(re.escape(name) for name in severities)),
    )
    team_field = table.optional_field("team_field", fields)
    managers: dict[str, str] = {}
    if "engineering_managers" in table.data:
        managers_table = table.table("engineering_managers")
        for team, handle in managers_table.data.items():
            if not isinstance(handle, str) or not _SLACK_HANDLE.fullmatch(handle):
                raise managers_table.invalid(
                    f'{managers_table.key("")}"{team}"',
                    handle,
                    'use a Slack handle such as "@dana" or a user id such as '
                    '"U0DANA0001"',
                )
            managers[team] = handle
    return FollowupSettings(
        paste=paste,
        owner_label_prefixes=prefixes,
        review_label=review_label,
        review_severities=review_severities,
        team_field=team_field,
        engineering_managers=managers,
    )


def _parse_slash_commands(table: _Table) -> dict[str, str]:
    table.check_keys("slash_commands")
    key = table.key("slash_commands")
    targets = ", ".join(f'"{name}"' for name in SLASH_TARGETS)
    value = table.value(
        "slash_commands", 'add a table such as { "/incident" = "incident" }'
    )
    if not isinstance(value, dict):
        raise table.invalid(
            key, value, 'expected a table such as { "/incident" = "incident" }'
        )
    commands: dict[str, str] = {}
    for name, target in value.items():
        if not _SLASH_COMMAND.fullmatch(name):
            raise table.invalid(
                f'{key}."{name}"',
                target,
                "name a slash command as Slack does: a slash, then at most 31 "
                "lowercase letters, digits, hyphens or underscores",
            )
        if target not in SLASH_TARGETS:
            raise table.invalid(f'{key}."{name}"', target, f"use one of {targets}")
        commands[name] = target
    return commands


def _parse_calendar(table: _Table) -> Calendar:
    table.check_keys("time_zone", "country", "end_of_day")
    zone_hint = 'use an IANA time zone name such as "Europe/Berlin"'
    time_zone = table.text("time_zone", zone_hint)
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise table.invalid(table.key("time_zone"), time_zone, zone_hint) from None

    country = table.text(
        "country",
        'use a two-letter ISO 3166-1 country code such as "DE", optionally with '
        'an ISO 3166-2 subdivision such as "DE-BY"',
        pattern=_COUNTRY_CODE,
    )
    # A code of the right form can still be one that has no holiday calendar,
    # and the deadlines need one.
    try:
        business_days.check_country(country)
    except business_days.UnknownCountryError as error:
        raise table.invalid(table.key("country"), country, error.hint) from None
    return Calendar(time_zone=time_zone, country=country, end_of_day=_end_of_day(table))


def _end_of_day(table: _Table) -> datetime.time:
    hint = 'use a 24-hour time such as "17:00"'
    value = table.value("end_of_day", hint)
    # A TOML local time (17:00:00) arrives as datetime.time. A datetime is a
    # date subclass, not a time, so it fails the check as it should.
    if isinstance(value, datetime.time):
        return value
    if isinstance(value, str):
        match = _CLOCK_TIME.fullmatch(value)
        if match is not None:
            return datetime.time(int(match.group(1)), int(match.group(2)))
    raise table.invalid(table.key("end_of_day"), value, hint)


def _show(value: Any) -> str:
    """Format a value the way TOML writes it, so messages match the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{key} = {_show(item)}" for key, item in value.items())
        return "{" + pairs + "}"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)
