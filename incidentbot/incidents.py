"""Incident operations: what each incident command does to GitLab and the store.

Every operation works in the same order. It checks the input, then makes the
GitLab changes that can be repeated safely (description, labels) before the
one that cannot (a new note), and stores the result only when GitLab accepted
everything. A failure on the way raises and leaves the stored incident as it
was, so the same command can simply be run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidentbot.chunks import split_for_gitlab
from incidentbot.description import replace_sections
from incidentbot.gitlab_api import GitLab, GitLabError, Issue, Note
from incidentbot.gitlab_text import defuse_mentions, inert, status_note
from incidentbot.model import (
    ROLES,
    SUMMARY_SECTIONS,
    Incident,
    StatusUpdate,
    TimelineEntry,
)
from incidentbot.render import description_sections, initial_description
from incidentbot.settings import Settings, Severity
from incidentbot.store import IncidentStore
from incidentbot.times import format_age

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# How far GitLab's clock may be behind the bot's when looking for an issue
# that a timed-out request created.
CLOCK_SKEW = timedelta(minutes=10)

# Tags GitLab predefines for incident timeline events.
TAG_START = "Start time"
TAG_RESPONSE = "Response initiated"
TAG_END = "End time"
TAG_MITIGATED = "Impact mitigated"

# Longer summary texts go to notes; the description keeps an excerpt.
SECTION_TEXT_LIMIT = 20_000
# GitLab rejects an issue title longer than 255 characters.
TITLE_LIMIT = 255
# A declare with the title of an open incident declared this recently is
# taken as the same declare sent twice (a double click, a repeated slash
# command), which must not open a second issue or page the IMOC again.
REPEAT_WINDOW = timedelta(minutes=10)
# GitLab rejects an issue description longer than 1,048,576 characters.
DESCRIPTION_LIMIT = 1_048_576
EXCERPT_LENGTH = 2_000

SEVERITY_COLORS = {1: "#8b0000", 2: "#dc143c", 3: "#ed9121", 4: "#f0e68c"}
STATE_COLORS = {"active": "#dc143c", "mitigated": "#ed9121", "resolved": "#009966"}


class IncidentError(Exception):
    """A command cannot be carried out; the message is the sentence for chat."""


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: str | None
    new: str


class Incidents:
    """The incident commands, on a store, a GitLab adapter and the settings."""

    def __init__(
        self,
        store: IncidentStore,
        gitlab: GitLab,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.gitlab = gitlab
        self.settings = settings
        self.clock = clock
        # Label names known to exist, per project.
        self._known_labels: dict[str, set[str]] = {}

    # Declare and attach

    def declare(
        self,
        severity: str,
        title: str,
        channel: str,
        user: str,
        *,
        confidential: bool = False,
    ) -> Incident:
        level = self._severity(severity)
        title = " ".join(title.split())
        if not title:
            raise IncidentError(
                "The incident needs a title: `incident declare S2 Checkout errors`."
            )
        if len(title) > TITLE_LIMIT:
            raise IncidentError(
                f"The title is {len(title)} characters long; GitLab allows "
                f"{TITLE_LIMIT}. Shorten it and put details in an update."
            )
        # Two declares at once must not both create an issue, in one channel
        # or (for a repeated declare) in two.
        with self.store.lock("declare"):
            self._reject_repeat(title)
            return self._declare(level, title, channel, user, confidential)

    def _reject_repeat(self, title: str) -> None:
        now = self.clock()
        folded = title.casefold()
        for incident in self.store.all():
            recent = now - incident.declared_at <= REPEAT_WINDOW
            if incident.state == "resolved" or not recent:
                continue
            if " ".join(incident.title.split()).casefold() != folded:
                continue
            age = format_age(now - incident.declared_at)
            name = "(confidential)" if incident.confidential else f"'{title}'"
            raise IncidentError(
                f"{incident.ref} {name} was declared {age} ago by "
                f"{incident.declared_by}, so nothing new was declared. Run its "
                "commands in its channel, or give a different incident another "
                "title."
            )

    def _declare(
        self,
        level: Severity,
        title: str,
        channel: str,
        user: str,
        confidential: bool,
    ) -> Incident:
        bound = self.store.bound_ref(channel)
        if bound and self._is_open(bound):
            raise IncidentError(
                f"This channel already belongs to {bound}. Declare the new "
                "incident in another channel."
            )
        now = self.clock()
        project = self.settings.incident_project
        labels = [self.settings.state_labels["active"], level.label]
        self._ensure_labels(project, labels)

        draft = Incident(
            project=project,
            iid=0,
            global_id=0,
            web_url="",
            title=title,
            channel=channel,
            severity=level.name,
            declared_at=now,
            declared_by=user,
            roles={"lead": user},
            role_history=[("lead", user, now)],
            severity_history=[(level.name, now)],
            cadence_from=now,
            confidential=confidential,
        )
        draft.add_timeline(
            TimelineEntry(now, f"Incident declared as {level.name}", user, "declared")
        )
        issue = self._create_issue(draft, labels)
        incident = self._with_issue(draft, issue)
        self._timeline_event(incident, incident.timeline[0], (TAG_RESPONSE,))
        self.store.add(incident)
        log.info("declared %s (%s) in channel %s", incident.ref, level.name, channel)
        return incident

    def _create_issue(self, draft: Incident, labels: Sequence[str]) -> Issue:
        """Create the incident issue, or adopt it if a timed-out request made it."""
        title = defuse_mentions(draft.title)
        try:
            return self.gitlab.create_incident(
                draft.project,
                title,
                initial_description(draft, self.settings),
                labels,
                confidential=draft.confidential,
            )
        except GitLabError as error:
            if error.status is not None:
                raise
            since = draft.declared_at - CLOCK_SKEW
            found = self.gitlab.find_incident(draft.project, title, since)
            if found is None or self.store.get(found.ref) is not None:
                raise
            log.warning(
                "creating the incident timed out, but GitLab made %s; adopting it",
                found.ref,
            )
            return found

    def attach(self, url: str, channel: str, user: str) -> Incident:
        try:
            project, iid = self.gitlab.issue_from_url(url)
        except ValueError as error:
            raise IncidentError(str(error)) from error
        bound = self.store.bound_ref(channel)
        if bound and self._is_open(bound):
            raise IncidentError(f"This channel already belongs to {bound}.")
        issue = self.gitlab.get_issue(project, iid)
        if issue.issue_type != "incident":
            raise IncidentError(
                f"{issue.ref} is an {issue.issue_type}, not an incident. Change its "
                "type to Incident on GitLab, or declare a new incident."
            )
        existing = self.store.get(issue.ref)
        now = self.clock()
        if existing is not None:
            # The incident moves here, and its old channel is let go.
            self.store.rebind(existing.ref, channel)
            incident = self.store.require(existing.ref)
        else:
            incident = Incident(
                project=issue.project_path,
                iid=issue.iid,
                global_id=issue.global_id,
                web_url=issue.web_url,
                title=issue.title,
                channel=channel,
                severity=self._severity_from_labels(issue.labels),
                declared_at=now,
                declared_by=user,
                state=self._state_from_labels(issue),
                confidential=issue.confidential,
                roles={"lead": user},
                role_history=[("lead", user, now)],
                cadence_from=now,
            )
            incident.severity_history.append((incident.severity, now))
            for name, field in self.settings.fields.items():
                if field.kind != "label":
                    continue
                for label in issue.labels:
                    if label.startswith(field.label_prefix):
                        incident.fields[name] = label[len(field.label_prefix) :]
        self.store.add(incident)
        return incident

    # Status updates

    def update(self, ref: str, text: str, user: str) -> Incident:
        text = text.strip()
        if not text:
            raise IncidentError(
                "The update is empty: `incident update <what customers see and "
                "what is being done>`."
            )
        _check_length("update", text)
        with self.store.edit(ref) as incident:
            now = self.clock()
            update = StatusUpdate(now, user, text, None)
            incident.updates.append(update)
            self._sync_description(incident)
            note = post_note(
                self.gitlab,
                incident.project,
                incident.iid,
                status_note(user, now, text),
            )
            update.note_id = note.id
        return incident

    # Fields

    def set_field(self, ref: str, name: str, value: str, user: str) -> FieldChange:
        name = name.strip().lower()
        value = value.strip()
        if name == "severity":
            return self._set_severity(ref, value, user)
        field = self.settings.fields.get(name)
        if field is None:
            known = ", ".join(["severity", *self.settings.fields])
            raise IncidentError(f"Unknown field '{name}': use one of {known}.")
        if not value:
            raise IncidentError(
                f"Field {name} needs a value: `incident field {name} <value>`."
            )
        if field.choices:
            match = _choice(value, field.choices)
            if match is None:
                raise IncidentError(
                    f"Invalid {name} '{value}': use one of {', '.join(field.choices)}."
                )
            value = match
        if field.kind == "confidential":
            return self._set_confidential(ref, value)
        if field.kind == "label" and not _label_safe(value):
            raise IncidentError(
                f"Invalid {name} '{value}': a label value may not contain commas "
                "or line breaks."
            )
        with self.store.edit(ref) as incident:
            old = incident.fields.get(name)
            if old == value:
                return FieldChange(name, old, value)
            incident.fields[name] = value
            if field.kind == "label":
                remove = [field.label_prefix + old] if old else []
                self.gitlab.edit_issue(
                    incident.project,
                    incident.iid,
                    add_labels=[field.label_prefix + value],
                    remove_labels=remove,
                )
            else:
                self._sync_description(incident)
        return FieldChange(name, old, value)

    def _set_confidential(self, ref: str, value: str) -> FieldChange:
        flag = _parse_bool(value)
        if flag is None:
            raise IncidentError(f"Invalid confidential '{value}': use true or false.")
        with self.store.edit(ref) as incident:
            old = "true" if incident.confidential else "false"
            incident.confidential = flag
            issue = self.gitlab.edit_issue(
                incident.project, incident.iid, confidential=flag
            )
            if issue.confidential != flag:
                raise IncidentError(
                    f"GitLab kept {incident.ref} confidential={old}; check that the "
                    "bot's token may edit the issue."
                )
        return FieldChange("confidential", old, "true" if flag else "false")

    def _set_severity(self, ref: str, value: str, user: str) -> FieldChange:
        level = self._severity(value)
        with self.store.edit(ref) as incident:
            old = incident.severity
            if old == level.name:
                return FieldChange("severity", old, level.name)
            now = self.clock()
            incident.severity = level.name
            incident.severity_history.append((level.name, now))
            incident.add_timeline(
                TimelineEntry(
                    now,
                    f"Severity changed from {old} to {level.name}",
                    user,
                    "severity",
                )
            )
            self._ensure_labels(incident.project, [level.label])
            self._sync_description(incident, add_labels=[level.label])
        return FieldChange("severity", old, level.name)

    # Summary, impact and timeline

    def set_summary(self, ref: str, section: str, text: str) -> Incident:
        section = section.strip().lower()
        if section not in SUMMARY_SECTIONS:
            raise IncidentError(
                f"Unknown summary section '{section}': use summary, impact or causes."
            )
        if not text.strip():
            raise IncidentError(
                f"The {section} text is empty: `incident summary {section} <text>`."
            )
        text = text.strip()
        with self.store.edit(ref) as incident:
            old_notes = incident.summary_notes.pop(section, [])
            if len(text) <= SECTION_TEXT_LIMIT:
                incident.summary[section] = text
                self._sync_description(incident)
                self._delete_notes(incident, old_notes)
                return incident
            # GitLab caps descriptions at about a million characters, so a very
            # long text (a pasted table) goes to numbered notes instead.
            parts = split_for_gitlab(inert(text))
            incident.summary[section] = (
                text[:EXCERPT_LENGTH].rstrip()
                + f" … (the full text is in {_notes(len(parts))} on this issue)"
            )
            self._sync_description(incident)
            self._delete_notes(incident, old_notes)
            posted = incident.summary_notes.setdefault(section, [])
            for part in parts:
                note = post_note(self.gitlab, incident.project, incident.iid, part)
                if note.id is not None:
                    posted.append(note.id)
        return incident

    def write_sections(self, incident: Incident) -> None:
        """Rewrite the bot's description sections from an incident being edited.

        Call it inside `store.edit(ref)`, so that a GitLab failure leaves the
        stored incident as it was. Other plugins use it for the sections they
        keep, such as follow-ups and corrective actions.
        """
        self._sync_description(incident)

    def _delete_notes(self, incident: Incident, note_ids: Sequence[int]) -> None:
        """Delete notes that held an earlier version of a long summary section."""
        for note_id in note_ids:
            self.gitlab.delete_note(incident.project, incident.iid, note_id)

    def set_impact(self, ref: str, edge: str, at: datetime, user: str) -> Incident:
        with self.store.edit(ref) as incident:
            if edge == "start":
                if incident.impact_end and at > incident.impact_end:
                    raise IncidentError(
                        "Customer impact cannot start after it ended "
                        f"({incident.impact_end:%Y-%m-%d %H:%M} UTC)."
                    )
                incident.impact_start = at
                text, tag = "Customer impact started", TAG_START
            else:
                if incident.impact_start and at < incident.impact_start:
                    raise IncidentError(
                        "Customer impact cannot end before it started "
                        f"({incident.impact_start:%Y-%m-%d %H:%M} UTC)."
                    )
                incident.impact_end = at
                text, tag = "Customer impact ended", TAG_END
            kind = f"impact_{edge}"
            replaced = [e for e in incident.timeline if e.kind == kind]
            incident.timeline = [e for e in incident.timeline if e.kind != kind]
            entry = TimelineEntry(at, text, user, kind)
            incident.add_timeline(entry)
            self._sync_description(incident)
            for old in replaced:
                self._delete_timeline_event(incident, old)
            self._timeline_event(incident, entry, (tag,))
        return incident

    def add_timeline(
        self, ref: str, at: datetime, text: str, user: str, *, kind: str = "manual"
    ) -> TimelineEntry:
        if not text.strip():
            raise IncidentError(
                "The timeline entry is empty: `incident timeline add [<time>] <text>`."
            )
        _check_length("timeline entry", text)
        with self.store.edit(ref) as incident:
            entry = TimelineEntry(at, text.strip(), user, kind)
            incident.add_timeline(entry)
            self._sync_description(incident)
            self._timeline_event(incident, entry, ())
        return entry

    # Roles

    def set_role(self, ref: str, role: str, person: str, user: str) -> Incident:
        role = role.strip().lower()
        if role not in ROLES:
            raise IncidentError(
                f"Unknown role '{role}': use one of {', '.join(ROLES)}."
            )
        person = person.strip().lstrip("@")
        if not person or len(person.split()) != 1:
            raise IncidentError(
                f"Invalid person '{person}': name one person, "
                f"`incident role {role} @name`."
            )
        with self.store.edit(ref) as incident:
            if incident.roles.get(role) == person:
                return incident
            now = self.clock()
            incident.roles[role] = person
            incident.role_history.append((role, person, now))
            incident.add_timeline(
                TimelineEntry(now, f"{person} is now {role}", user, "role")
            )
            self._sync_description(incident)
        return incident

    # Mitigate and resolve

    def mitigate(self, ref: str, user: str) -> Incident:
        with self.store.edit(ref) as incident:
            if incident.state != "active":
                raise IncidentError(f"{incident.ref} is already {incident.state}.")
            now = self.clock()
            incident.state = "mitigated"
            incident.mitigated_at = now
            entry = TimelineEntry(now, "Incident mitigated", user, "mitigated")
            incident.add_timeline(entry)
            label = self.settings.state_labels["mitigated"]
            self._ensure_labels(incident.project, [label])
            self._sync_description(incident, add_labels=[label], reject_closed=True)
            self._timeline_event(incident, entry, (TAG_MITIGATED,))
        return incident

    def missing_for_resolve(self, incident: Incident) -> list[str]:
        """Return what must be filled in before the incident may be resolved."""
        missing = [
            f"summary {section}"
            for section in SUMMARY_SECTIONS
            if not incident.summary.get(section)
        ]
        if incident.impact_start is None:
            missing.append("impact start")
        if incident.impact_end is None:
            missing.append("impact end")
        for name, field in self.settings.fields.items():
            if field.required and not incident.fields.get(name):
                missing.append(f"field {name}")
        return missing

    def resolve(self, ref: str, user: str, *, force: bool = False) -> Incident:
        with self.store.edit(ref) as incident:
            if incident.state == "resolved":
                raise IncidentError(f"{incident.ref} is already resolved.")
            missing = self.missing_for_resolve(incident)
            if missing and not force:
                raise IncidentError(
                    f"{incident.ref} cannot be resolved yet; missing: "
                    f"{', '.join(missing)}. Fill them in, or use "
                    "`incident resolve --force` to resolve anyway."
                )
            now = self.clock()
            incident.state = "resolved"
            incident.resolved_at = now
            incident.resolved_by = user
            incident.resolve_forced = bool(missing)
            text = "Incident resolved"
            if missing:
                text += f" (forced; missing: {', '.join(missing)})"
            entry = TimelineEntry(now, text, user, "resolved")
            incident.add_timeline(entry)
            label = self.settings.state_labels["resolved"]
            self._ensure_labels(incident.project, [label])
            self._sync_description(incident, add_labels=[label], state_event="close")
            self._timeline_event(incident, entry, ())
        return incident

    # Reminders

    def closed_outside(self, ref: str) -> bool:
        """Record it if someone closed the issue on GitLab, and return whether so.

        The incident counts as resolved from then on, which stops its status
        reminders; the issue itself is left as people left it.
        """
        incident = self.store.require(ref)
        if incident.state == "resolved":
            return False
        issue = self.gitlab.get_issue(incident.project, incident.iid)
        if issue.state != "closed":
            return False
        with self.store.edit(ref) as stored:
            now = self.clock()
            stored.state = "resolved"
            stored.resolved_at = now
            stored.resolved_by = "GitLab"
            stored.add_timeline(
                TimelineEntry(now, "Issue closed on GitLab", "GitLab", "resolved")
            )
        return True

    def update_due(self, incident: Incident) -> datetime | None:
        """Return when the next status update is due, or None if none is."""
        if incident.state != "active":
            return None
        cadence = self.settings.severities[incident.severity].update_cadence
        if cadence is None:
            return None
        start = incident.cadence_from or incident.declared_at
        last = incident.last_update
        if last is not None and last.at > start:
            start = last.at
        return start + cadence

    def cadence(self, incident: Incident) -> timedelta | None:
        return self.settings.severities[incident.severity].update_cadence

    # Helpers

    def _severity(self, text: str) -> Severity:
        try:
            return self.settings.severity(text)
        except ValueError as error:
            raise IncidentError(str(error).capitalize() + ".") from error

    def _is_open(self, ref: str) -> bool:
        incident = self.store.get(ref)
        return incident is not None and incident.state != "resolved"

    def _ensure_labels(self, project: str, labels: Sequence[str]) -> None:
        """Create the labels the project lacks, with the bot's colours.

        Labels seen once are remembered, so later severity and state changes
        cost no extra request. A label deleted on GitLab since then comes
        back when GitLab applies it, in GitLab's default colour.
        """
        known = self._known_labels.setdefault(project, set())
        if all(label in known for label in labels):
            return
        known.update(self.gitlab.label_names(project))
        for label in labels:
            if label in known:
                continue
            self.gitlab.create_label(project, label, _label_color(label, self.settings))
            known.add(label)

    def _sync_description(
        self,
        incident: Incident,
        *,
        add_labels: Sequence[str] = (),
        state_event: str | None = None,
        reject_closed: bool = False,
    ) -> Issue:
        """Rewrite the bot's sections, and set state labels, in one edit.

        The description is read first so that text people wrote on GitLab since
        the bot's last edit is kept. Labels of the same scope as an added label
        are removed, since GitLab Free keeps both.
        """
        issue = self.gitlab.get_issue(incident.project, incident.iid)
        if reject_closed and issue.state == "closed":
            raise IncidentError(
                f"{incident.ref} was closed on GitLab. Reopen it there to go on, "
                "or run `incident resolve` to record how it ended."
            )
        description = replace_sections(
            issue.description, description_sections(incident, self.settings)
        )
        if len(description) > DESCRIPTION_LIMIT:
            raise IncidentError(
                f"The description of {incident.ref} would be {len(description):,} "
                f"characters, over GitLab's limit of {DESCRIPTION_LIMIT:,}. "
                "Shorten the summary sections or long timeline entries first."
            )
        remove = _same_scope(issue.labels, add_labels)
        remove += self._replaced_labels(issue.labels, add_labels, remove)
        add = [label for label in add_labels if label not in issue.labels]
        if (
            description == issue.description
            and not add
            and not remove
            and not state_event
        ):
            return issue
        return self.gitlab.edit_issue(
            incident.project,
            incident.iid,
            description=description if description != issue.description else None,
            add_labels=add,
            remove_labels=remove,
            state_event=state_event,
        )

    def _replaced_labels(
        self, current: Sequence[str], added: Sequence[str], removed: Sequence[str]
    ) -> list[str]:
        """Return state or severity labels that an added one of its kind replaces.

        Scoped labels are handled by scope; this catches labels from the
        settings that have no scope, such as a plain "mitigated".
        """
        families = [
            set(self.settings.state_labels.values()),
            {level.label for level in self.settings.severities.values()},
        ]
        replaced = []
        for family in families:
            if not family.intersection(added):
                continue
            replaced += [
                label
                for label in current
                if label in family and label not in added and label not in removed
            ]
        return replaced

    def _timeline_event(
        self, incident: Incident, entry: TimelineEntry, tags: Sequence[str]
    ) -> None:
        """Mirror a timeline entry as a GitLab incident timeline event.

        The description already contains the entry, so a GitLab that lacks
        timeline events (or refuses one) costs a log line, not the command.
        """
        if not self.settings.timeline_events:
            return
        issue = _issue_of(incident)
        try:
            entry.gitlab_event_id = self.gitlab.create_timeline_event(
                issue, inert(entry.text), entry.at, tags
            )
        except GitLabError as error:
            log.warning("timeline event for %s not created: %s", incident.ref, error)

    def _delete_timeline_event(self, incident: Incident, entry: TimelineEntry) -> None:
        """Delete the GitLab timeline event of an entry that was replaced."""
        if not entry.gitlab_event_id:
            return
        try:
            self.gitlab.delete_timeline_event(
                _issue_of(incident), entry.gitlab_event_id
            )
        except GitLabError as error:
            log.warning(
                "old timeline event %s on %s not deleted: %s",
                entry.gitlab_event_id,
                incident.ref,
                error,
            )

    def _with_issue(self, draft: Incident, issue: Issue) -> Incident:
        draft.project = issue.project_path
        draft.iid = issue.iid
        draft.global_id = issue.global_id
        draft.web_url = issue.web_url
        draft.confidential = issue.confidential
        return draft

    def _severity_from_labels(self, labels: Sequence[str]) -> str:
        for level in self.settings.severities.values():
            if level.label in labels:
                return level.name
        return self.settings.default_severity

    def _state_from_labels(self, issue: Issue) -> str:
        if issue.state == "closed":
            return "resolved"
        for state in ("resolved", "mitigated"):
            if self.settings.state_labels[state] in issue.labels:
                return state
        return "active"


def _issue_of(incident: Incident) -> Issue:
    """Return the incident's issue from the stored record, for GraphQL calls."""
    return Issue(
        project_id=0,
        project_path=incident.project,
        iid=incident.iid,
        global_id=incident.global_id,
        web_url=incident.web_url,
        title=incident.title,
        description="",
        labels=(),
        state="opened",
        confidential=incident.confidential,
        issue_type="incident",
        moved_to_id=None,
    )


def _same_scope(current: Sequence[str], added: Sequence[str]) -> list[str]:
    """Return the current labels that an added scoped label replaces."""
    scopes = {label.rsplit("::", 1)[0] for label in added if "::" in label}
    return [
        label
        for label in current
        if "::" in label and label.rsplit("::", 1)[0] in scopes and label not in added
    ]


def _label_color(label: str, settings: Settings) -> str:
    for state, name in settings.state_labels.items():
        if name == label:
            return STATE_COLORS[state]
    for level in settings.severities.values():
        if level.label == label:
            return SEVERITY_COLORS.get(level.level, "#6699cc")
    return "#6699cc"


def _choice(value: str, choices: Sequence[str]) -> str | None:
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    return None


def _parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    return None


def post_note(
    gitlab: GitLab, project: str, iid: int, body: str, *, internal: bool = False
) -> Note:
    """Post a note once, even when GitLab's response to the request is lost.

    A request that timed out may still have created the note, so before the
    error reaches the person (who would run the command again) the last
    notes are searched for this exact body.
    """
    try:
        return gitlab.add_note(project, iid, body, internal=internal)
    except GitLabError as error:
        if error.status is not None:
            raise
        found = gitlab.find_note(project, iid, body)
        if found is None:
            raise
        log.warning(
            "posting a note on %s#%d timed out, but GitLab made note %s",
            project,
            iid,
            found.id,
        )
        return found


def _notes(count: int) -> str:
    return "1 note" if count == 1 else f"{count} notes"


def _check_length(what: str, text: str) -> None:
    if len(text) > SECTION_TEXT_LIMIT:
        raise IncidentError(
            f"The {what} is {len(text):,} characters long; keep it under "
            f"{SECTION_TEXT_LIMIT:,} and put long material in "
            "`incident summary <section> <text>`, which moves it to notes."
        )


def _label_safe(value: str) -> bool:
    return "," not in value and "\n" not in value
