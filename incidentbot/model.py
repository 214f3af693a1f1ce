"""The incident record the bot keeps, and the chat messages it may copy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ROLES = ("lead", "imoc", "comms", "responder")
SUMMARY_SECTIONS = ("summary", "impact", "causes")
STATES = ("active", "mitigated", "resolved")


@dataclass
class TimelineEntry:
    """One line of the incident timeline, kept in time order when rendered."""

    at: datetime
    text: str
    author: str
    # The source of the entry: declared, update, manual, impact_start,
    # impact_end, severity, role, mitigated, resolved, pin, page or handover.
    kind: str
    gitlab_event_id: str | None = None


@dataclass
class StatusUpdate:
    """A status update as posted to the incident issue."""

    at: datetime
    author: str
    text: str
    note_id: int | None


@dataclass
class Pin:
    """Reactions on one chat message and the notes the bot wrote for them.

    People are tracked per kind so that the note goes away only when the last
    person removes their reaction of that kind.
    """

    channel: str
    ts: str
    author: str = ""
    posted_at: datetime | None = None
    text: str = ""
    public_by: set[str] = field(default_factory=set)
    internal_by: set[str] = field(default_factory=set)
    public_note_id: int | None = None
    internal_note_id: int | None = None


@dataclass
class ChatMessage:
    """A message seen in an incident channel, kept so reactions can copy it."""

    channel: str
    ts: str
    author: str
    posted_at: datetime
    text: str
    files: tuple[str, ...] = ()


@dataclass
class FollowUp:
    """A GitLab issue linked to an incident as work to do after it."""

    project: str  # current project path; it changes when the issue moves
    iid: int
    web_url: str
    title: str
    linked_by: str
    linked_at: datetime
    # "pasted" for a link someone posted, "added" for `followup add`.
    source: str = "pasted"
    # Chat message the link was pasted in, as "channel/ts", "" for none.
    message: str = ""
    # Id of the GitLab issue link to the incident issue, None before linking.
    link_id: int | None = None
    # Whether the bot wrote the incident context onto the issue.
    has_context: bool = False
    owner: str = ""
    labels_added: list[str] = field(default_factory=list)
    corrective: bool = False
    # Earlier "project#iid" references of the issue, from before moves.
    moved_from: list[str] = field(default_factory=list)
    state: str = "opened"
    # Review reminders sent for this follow-up: to the lead, then the IMOC.
    lead_reminded: bool = False
    imoc_reminded: bool = False

    @property
    def ref(self) -> str:
        return f"{self.project}#{self.iid}"


@dataclass
class Page:
    """One attempt to reach people for an incident: a page or a group mention."""

    # "service" (Events API trigger), "team" (REST incident) or "group" (a
    # Slack user group mentioned).
    kind: str
    target: str  # the key in the settings, such as "cmoc"
    name: str  # the display name, such as "Communications Manager On Call"
    at: datetime
    by: str
    message: str
    dedup_key: str = ""
    # "opened": PagerDuty confirmed a new page. "added": an open alert with the
    # same dedup_key got the trigger, so no one new was notified. "sent":
    # PagerDuty accepted the event but the bot could not see the incident.
    # "still_open": the team's PagerDuty incident was open, so nothing was
    # sent. "failed": nothing was confirmed. "mentioned": a group was named.
    outcome: str = "sent"
    pagerduty_number: int | None = None
    pagerduty_url: str = ""
    # Why it failed, as one sentence, for "failed".
    error: str = ""
    automatic: bool = False

    @property
    def reached(self) -> bool:
        return self.outcome in ("opened", "added", "still_open", "sent", "mentioned")


@dataclass
class Incident:
    """The bot's record of one incident issue."""

    project: str
    iid: int
    global_id: int
    web_url: str
    title: str
    channel: str
    severity: str
    declared_at: datetime
    declared_by: str
    state: str = "active"
    confidential: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    role_history: list[tuple[str, str, datetime]] = field(default_factory=list)
    severity_history: list[tuple[str, datetime]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    # Notes that carry a summary section too long for the description.
    summary_notes: dict[str, list[int]] = field(default_factory=dict)
    impact_start: datetime | None = None
    impact_end: datetime | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)
    updates: list[StatusUpdate] = field(default_factory=list)
    pins: dict[str, Pin] = field(default_factory=dict)
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolve_forced: bool = False
    # Lines of the description's follow-up and corrective-action sections,
    # each a Markdown link to a GitLab issue, kept by the follow-ups plugin.
    follow_ups: list[str] = field(default_factory=list)
    corrective_actions: list[str] = field(default_factory=list)
    # Set when the status-update cadence clock starts again (reopen, attach).
    cadence_from: datetime | None = None
    # Where reminders go: the chat identifier of the channel, as text.
    chat_target: str = ""
    # Id of the chat channel the bot created for this incident, "" for none.
    # The bot keeps that channel's topic and status card while `channel` is it.
    created_channel: str = ""
    # Slack ts of the status card in the incident channel, "" before one is
    # posted. The bot edits that message on every change.
    card_ts: str = ""
    # Follow-ups in link order, the references people rejected as not valid
    # (reference to reason), and the incident review issue ("" for none).
    followups: list[FollowUp] = field(default_factory=list)
    rejected_followups: dict[str, str] = field(default_factory=dict)
    review_issue: str = ""
    # Pages and group mentions, in order, kept by the escalation plugin.
    pages: list[Page] = field(default_factory=list)
    # IMOC checklist items ticked by hand: item key to "person at time".
    checklist_ticks: dict[str, str] = field(default_factory=dict)
    checklist_posted: bool = False
    # The automatic IMOC page: "" before it, then "paged" or "failed".
    imoc_page: str = ""
    # Chat name of the person on call asked to take the IMOC role over, and
    # the PagerDuty user id whose shift that prompt was for.
    handover_offer: str = ""
    handover_shift: str = ""

    @property
    def ref(self) -> str:
        return f"{self.project}#{self.iid}"

    @property
    def last_update(self) -> StatusUpdate | None:
        return self.updates[-1] if self.updates else None

    def add_timeline(self, entry: TimelineEntry) -> None:
        self.timeline.append(entry)
        self.timeline.sort(key=lambda item: item.at)
