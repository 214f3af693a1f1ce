"""Settings of paging: PagerDuty services, escalation teams, Slack groups, IMOC duty.

settings.py reads the [pagerduty] and [escalation] tables through the
functions here. Both tables are optional. Without them nothing can be paged,
and the escalation commands name the table to add.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from incidentbot.settings import Field, _Table

T = TypeVar("T")

# Short keys people type: `pd trigger cmoc`, `incident engage release-managers`.
_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# PagerDuty object ids are upper-case letters and digits, such as PABC123.
_PAGERDUTY_ID = re.compile(r"[A-Z0-9]{2,20}")
_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{16,64}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SLACK_HANDLE = re.compile(r"@[a-z0-9._-]{1,80}|[UW][A-Z0-9]{2,}")
_HANDLE = re.compile(r"@[a-z0-9._-]{1,80}")
_SLACK_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class PagedService:
    """A PagerDuty service that `pd trigger <key>` pages through Events API v2."""

    key: str
    name: str
    routing_key: str = field(repr=False)


@dataclass(frozen=True)
class Team:
    """A team that `incident escalate <key>` pages with a REST incident."""

    key: str
    name: str
    service_id: str
    # Empty for the service's own escalation policy.
    escalation_policy_id: str = ""


@dataclass(frozen=True)
class Group:
    """A Slack user group that `incident engage <key>` mentions."""

    key: str
    name: str
    handle: str  # "@release-managers"
    # Slack's id of the group (S0123ABC). Without it the group is named, not
    # mentioned, because Slack notifies a group only through its id.
    slack_id: str = ""


@dataclass(frozen=True)
class PagerDutyLimits:
    request_timeout: float = 10.0
    max_retries: int = 3
    max_retry_after: float = 30.0


@dataclass(frozen=True)
class EscalationSettings:
    """Settings of paging: the targets, and how the IMOC's duty is watched."""

    limits: PagerDutyLimits = field(default_factory=PagerDutyLimits)
    services: dict[str, PagedService] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    # Service paged when an incident becomes a severity with page_imoc.
    imoc_service: str = ""
    # PagerDuty schedule of the IMOC rotation; "" turns shift watching off.
    imoc_schedule: str = ""
    shift_check: datetime.timedelta = datetime.timedelta(minutes=5)
    checklist_reminder: datetime.timedelta = datetime.timedelta(minutes=15)
    # The checklist's targets: the leadership team, the Infrastructure
    # Liaison's service and the release managers' group.
    leadership_team: str = ""
    liaison_service: str = ""
    release_managers_group: str = ""
    # A change is the suspected cause when this field has one of these values.
    change_field: str = ""
    change_values: tuple[str, ...] = ()
    # People who may page from anywhere, besides incident channels and roles.
    pagers: tuple[str, ...] = ()
    # IMOC members who have not yet run an S1 or S2 incident.
    new_imoc: tuple[str, ...] = ()
    engineer_schedule: str = ""
    comms_schedule: str = ""
    # PagerDuty user e-mail to chat handle.
    people: dict[str, str] = field(default_factory=dict)

    def service(self, text: str) -> PagedService | None:
        return _by_key_or_name(self.services, text)

    def team(self, text: str) -> Team | None:
        return _by_key_or_name(self.teams, text)

    def group(self, text: str) -> Group | None:
        return _by_key_or_name(self.groups, text)


def _by_key_or_name(table: dict[str, Any], text: str) -> Any:
    """Find an entry by its key or its display name, ignoring case and quotes."""
    typed = " ".join(text.strip().strip("\"'“”").split()).casefold()
    for key, entry in table.items():
        if typed in (key.casefold(), entry.name.casefold()):
            return entry
    return None


def parse_pagerduty(table: _Table) -> tuple[PagerDutyLimits, dict[str, PagedService]]:
    table.check_keys("request_timeout", "max_retries", "max_retry_after", "services")
    defaults = PagerDutyLimits()
    seconds = "use a number of seconds greater than 0"
    limits = PagerDutyLimits(
        request_timeout=(
            table.positive_number("request_timeout", seconds)
            if "request_timeout" in table.data
            else defaults.request_timeout
        ),
        max_retries=(
            table.integer("max_retries", "use a whole number, 0 for no retries", 0)
            if "max_retries" in table.data
            else defaults.max_retries
        ),
        max_retry_after=(
            table.positive_number("max_retry_after", seconds)
            if "max_retry_after" in table.data
            else defaults.max_retry_after
        ),
    )
    return limits, _parse_entries(table, "services", _parse_service)


def _parse_service(table: _Table, key: str) -> PagedService:
    table.check_keys("name", "routing_key", "routing_key_env")
    name = table.text("name", "use the name people know the service by")
    hint = (
        "use the 32-character integration key of the service's Events API v2 "
        "integration"
    )
    if ("routing_key" in table.data) == ("routing_key_env" in table.data):
        # settings.py imports this module, so this import waits until here.
        from incidentbot.settings import SettingsError

        raise SettingsError(
            f"{table.file}: [{table.prefix}] needs exactly one of routing_key and "
            "routing_key_env (the name of an environment variable that contains "
            "the key)"
        )
    if "routing_key" in table.data:
        routing_key = table.text("routing_key", hint, pattern=_ROUTING_KEY)
    else:
        variable = table.text(
            "routing_key_env",
            "use the name of an environment variable, such as PAGERDUTY_KEY_IMOC",
            pattern=_ENV_NAME,
        )
        routing_key = os.environ.get(variable, "").strip()
        if not _ROUTING_KEY.fullmatch(routing_key):
            # The value is a secret, so the message names only the variable.
            raise table.invalid(
                table.key("routing_key_env"),
                variable,
                f"set the environment variable {variable} to the service's "
                "integration key",
            )
    return PagedService(key=key, name=name, routing_key=routing_key)


def parse_escalation(
    table: _Table,
    services: dict[str, PagedService],
    limits: PagerDutyLimits,
    fields: dict[str, Field],
) -> EscalationSettings:
    table.check_keys(
        "imoc_service",
        "imoc_schedule",
        "shift_check_minutes",
        "checklist_reminder_minutes",
        "leadership_team",
        "liaison_service",
        "release_managers_group",
        "change_field",
        "change_values",
        "pagers",
        "new_imoc",
        "engineer_schedule",
        "comms_schedule",
        "teams",
        "groups",
        "people",
    )
    teams = _parse_entries(table, "teams", _parse_team)
    groups = _parse_entries(table, "groups", _parse_group)

    imoc_service = _reference(table, "imoc_service", services, "[pagerduty.services]")
    liaison_service = _reference(
        table, "liaison_service", services, "[pagerduty.services]"
    )
    leadership_team = _reference(table, "leadership_team", teams, "[escalation.teams]")
    release_managers = _reference(
        table, "release_managers_group", groups, "[escalation.groups]"
    )
    change_field = table.optional_field("change_field", fields)
    change_values = _optional_list(
        table,
        "change_values",
        "use values of the change field, such as Software-Change",
        re.compile(r"\S(?:.*\S)?"),
    )
    people: dict[str, str] = {}
    if "people" in table.data:
        people_table = table.table("people")
        for email, handle in people_table.data.items():
            if not _EMAIL.fullmatch(email):
                raise people_table.invalid(
                    f'{people_table.prefix}."{email}"',
                    handle,
                    "use the PagerDuty user's e-mail address as the key",
                )
            # A handle, not a Slack user id: the bot compares it with the
            # chat names of role holders and of people who accept a handover.
            if not isinstance(handle, str) or not _HANDLE.fullmatch(handle):
                raise people_table.invalid(
                    f'{people_table.prefix}."{email}"',
                    handle,
                    'use a chat handle such as "@dana"',
                )
            people[email.lower()] = handle
    return EscalationSettings(
        limits=limits,
        services=services,
        teams=teams,
        groups=groups,
        imoc_service=imoc_service,
        imoc_schedule=_pagerduty_id(table, "imoc_schedule"),
        shift_check=_minutes(table, "shift_check_minutes", 5),
        checklist_reminder=_minutes(table, "checklist_reminder_minutes", 15),
        leadership_team=leadership_team,
        liaison_service=liaison_service,
        release_managers_group=release_managers,
        change_field=change_field,
        change_values=change_values,
        pagers=_optional_list(
            table,
            "pagers",
            'use chat handles such as "@dana" or Slack user ids',
            _SLACK_HANDLE,
        ),
        new_imoc=_optional_list(
            table, "new_imoc", 'use chat handles such as "@dana"', _HANDLE
        ),
        engineer_schedule=_pagerduty_id(table, "engineer_schedule"),
        comms_schedule=_pagerduty_id(table, "comms_schedule"),
        people=people,
    )


def _parse_team(table: _Table, key: str) -> Team:
    table.check_keys("name", "service_id", "escalation_policy_id")
    id_hint = "use a PagerDuty id such as PABC123 (letters and digits)"
    return Team(
        key=key,
        name=table.text("name", "use the name people know the team by"),
        service_id=table.text("service_id", id_hint, pattern=_PAGERDUTY_ID),
        escalation_policy_id=_pagerduty_id(table, "escalation_policy_id"),
    )


def _parse_group(table: _Table, key: str) -> Group:
    table.check_keys("name", "handle", "slack_id")
    slack_id = table.optional_text("slack_id", 'use an id such as "S0123ABC"', "")
    if slack_id and not _SLACK_GROUP_ID.fullmatch(slack_id):
        raise table.invalid(
            table.key("slack_id"),
            slack_id,
            "use a Slack user group id such as S0123ABC",
        )
    return Group(
        key=key,
        name=table.text("name", "use the name people know the group by"),
        handle=table.text(
            "handle",
            'use the Slack user group handle, such as "@release-managers"',
            pattern=_HANDLE,
        ),
        slack_id=slack_id,
    )


def _check_key(table: _Table, key: str) -> None:
    if not _KEY.fullmatch(key):
        raise table.invalid(
            table.key(key),
            key,
            "use a short key of lowercase letters, digits, hyphens and underscores",
        )


def _check_unique_names(table: _Table, name: str, entries: dict[str, Any]) -> None:
    """Refuse two entries that one typed word would both match."""
    owners: dict[str, str] = {}
    for key, entry in entries.items():
        for word in {key.casefold(), entry.name.casefold()}:
            other = owners.setdefault(word, key)
            if other != key:
                raise table.invalid(
                    f"{table.key(name)}.{key}.name",
                    entry.name,
                    f"{table.key(name)}.{other} has the same name or key, so "
                    "people could not tell the two apart",
                )


def _reference(table: _Table, name: str, entries: dict[str, Any], where: str) -> str:
    value = table.optional_text(name, f"use a key of {where}", "")
    if value and value not in entries:
        known = ", ".join(entries) or "none yet"
        raise table.invalid(table.key(name), value, f"use a key of {where}: {known}")
    return value


def _pagerduty_id(table: _Table, name: str) -> str:
    value = table.optional_text(name, "use a PagerDuty id such as PABC123", "")
    if value and not _PAGERDUTY_ID.fullmatch(value):
        raise table.invalid(
            table.key(name), value, "use a PagerDuty id such as PABC123"
        )
    return value


def _minutes(table: _Table, name: str, default: int) -> datetime.timedelta:
    if name not in table.data:
        return datetime.timedelta(minutes=default)
    minutes = table.integer(name, "use a whole number of minutes, at least 1", 1)
    return datetime.timedelta(minutes=minutes)


def _optional_list(
    table: _Table, name: str, hint: str, pattern: re.Pattern[str]
) -> tuple[str, ...]:
    """Read an optional list of strings, empty when the key is missing."""
    if name not in table.data:
        return ()
    return table.string_list(name, hint, pattern)


def _parse_entries(
    table: _Table, name: str, parse: Callable[[_Table, str], T]
) -> dict[str, T]:
    """Read the optional [<table>.<name>.<key>] tables with parse, by key.

    The keys and display names must tell the entries apart, since people
    type either to name one.
    """
    entries: dict[str, T] = {}
    if name in table.data:
        entries_table = table.table(name)
        for key in entries_table.data:
            _check_key(entries_table, key)
            entries[key] = parse(entries_table.table(key), key)
    _check_unique_names(table, name, entries)
    return entries
