"""Errbot plugin: declare and run incidents tracked as GitLab incident issues.

The plugin parses chat commands, calls the incident library and formats the
reply. It owns the incident store; other plugins reach it with
`DependsOn = Incident` and `self.get_plugin("Incident").store`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from errbot import BotPlugin, botcmd, cmdfilter
from errbot.backends.base import REACTION_ADDED, Message, Reaction, Room

from incidentbot import slack_text
from incidentbot.args import split_first, strip_quotes
from incidentbot.chat_events import (
    PRIVATE_REPLY,
    delivery_key,
    message_ts,
    slack_event,
    ts_time,
)
from incidentbot.chunks import split_for_slack
from incidentbot.command_words import (
    checked_time,
    declare_words,
    leading_time,
    sentence,
)
from incidentbot.gitlab_api import GitLab, GitLabError
from incidentbot.incident_channel import ChannelError, IncidentChannels, OpenedChannel
from incidentbot.incidents import IncidentError, Incidents
from incidentbot.model import ROLES, ChatMessage
from incidentbot.model import Incident as IncidentRecord
from incidentbot.pins import Pins
from incidentbot.reminders import IncidentReminders
from incidentbot.render import status_card, summary_text, timeline_text
from incidentbot.replies import gitlab_failure, reaction_failed
from incidentbot.schedule import Schedule
from incidentbot.settings import (
    Settings,
    SettingsError,
    example_settings_path,
    load_settings,
)
from incidentbot.store import IncidentNotFound, IncidentStore
from incidentbot.times import format_age

log = logging.getLogger(__name__)

# Slack retries an event for about five minutes, so delivery records outlive that.
DELIVERY_MEMORY = timedelta(minutes=15)
SLACK_MODES = ("slack", "slackv3")
# A full GitLab issue reference such as infra/production#12.
INCIDENT_REF = re.compile(r"[\w.-]+(?:/[\w.-]+)+#\d+")
COMMANDS = (
    "declare [S1-S4] [--confidential] <title>",
    "attach <issue URL>",
    "update <text>",
    "field [<name> <value>]",
    "summary [summary|impact|causes <text>]",
    "impact start|end [<time>]",
    "timeline [add [<time>] <text>]",
    "role lead|imoc|comms|responder @user",
    "roles",
    "status",
    "list",
    "mitigate",
    "resolve [--force]",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def with_notes(reply: str, notes: list[str]) -> str:
    """Add sentences about chat-channel steps that failed to a command's reply."""
    return "\n".join([reply, *notes])


class Incident(BotPlugin):
    """Declare incidents and keep their GitLab issues true."""

    # Tests replace this clock to move time. Production uses the real one.
    clock: Callable[[], datetime] = staticmethod(utc_now)

    def activate(self) -> None:
        # Other plugins (follow-ups) add callables here that run after an
        # incident is resolved and return sentences for the reply.
        self.resolve_listeners: list[Callable[[str], list[str]]] = []
        # The escalation plugin pages the IMOC from these: they run after an
        # incident is declared, and after its severity changes (with the old
        # and new severity), and return sentences for the reply.
        self.declare_listeners: list[Callable[[str], list[str]]] = []
        # Usage lines of other plugins' `incident ...` commands, for the help.
        self.help_lines: list[str] = []
        self.severity_listeners: list[Callable[[str, str, str], list[str]]] = []
        settings_path = getattr(self.bot_config, "INCIDENT_SETTINGS", None)
        try:
            self.settings: Settings = load_settings(
                settings_path or example_settings_path()
            )
        except SettingsError as error:
            log.error("incident settings are invalid: %s", error)
            raise
        super().activate()
        # Without GitLab the plugin stays loaded, so that every command reports
        # what is missing instead of Errbot replying "command not found".
        self.unavailable = ""
        url = getattr(self.bot_config, "GITLAB_URL", None)
        token = getattr(self.bot_config, "GITLAB_TOKEN", None)
        if not url or not token:
            self.unavailable = (
                "The incident commands are off because GITLAB_URL or GITLAB_TOKEN "
                "is not set. Set both and restart the bot, or start it with "
                "`make run`, which uses the sandbox GitLab."
            )
            log.error("incident commands are off: GITLAB_URL or GITLAB_TOKEN unset")
            return
        try:
            self.gitlab = GitLab.connect(
                url,
                token,
                timeout=self.settings.request_timeout,
                max_retries=self.settings.max_retries,
                max_retry_after=self.settings.max_retry_after,
            )
        except ValueError as error:
            self.unavailable = f"The incident commands are off: {error}"
            log.error("incident commands are off: %s", error)
            return
        self.store = IncidentStore(self)
        self.schedule = Schedule(self, self._now)
        self.incidents = Incidents(self.store, self.gitlab, self.settings, self._now)
        self.pins = Pins(self.store, self.gitlab, self.settings)
        self.reminders = IncidentReminders(
            self.incidents, self.store, self.schedule, self._say, self._after_resolve
        )
        self.channels = IncidentChannels(self.store, self._bot, self._out)
        self.reminders.rearm_all()
        self.start_poller(self.settings.reminder_poll_seconds, self.run_reminders)

    def _now(self) -> datetime:
        return self.clock()

    # Commands

    @botcmd
    def incident(self, msg: Message, args: str) -> str:
        """Run an incident. Commands: `incident declare|attach|update|field|summary|
        impact|timeline|role|roles|status|list|mitigate|resolve`. Example:
        `incident declare S2 Checkout errors`."""
        usages = [*COMMANDS, *self.help_lines]
        return self.command_help(msg, args, "incident", "Incident commands", usages)

    @botcmd
    def incident_declare(self, msg: Message, args: str) -> str:
        """Declare an incident: a GitLab incident issue, labelled with its severity.
        Usage: `incident declare [S1-S4] [--confidential] <title>`. Example:
        `incident declare S2 Checkout errors`"""
        return self._guard(msg, lambda: self._declare(msg, self._text(args)))

    def _declare(self, msg: Message, text: str) -> str:
        severity, title, confidential = declare_words(
            text, self.settings.severities, self.settings.default_severity
        )
        user = self._person_name(msg.frm)
        channel, target = self._channel(msg)
        incident = self.incidents.declare(
            severity, title, channel, user, confidential=confidential
        )
        notes: list[str] = []
        opened = None
        if self._bot.mode in SLACK_MODES:
            opened, note = self._open_incident_room(incident, msg)
            notes.append(note)
            if opened is not None:
                channel, target = opened.id, opened.target
                self.store.rebind(incident.ref, channel)
            self._announce(incident.ref)
        with self.store.edit(incident.ref) as stored:
            stored.chat_target = target
            stored.created_channel = opened.id if opened is not None else ""
        self.reminders.arm_update(incident.ref)
        if opened is not None:
            notes.extend(self.channels.set_up(incident.ref))
        notes.extend(self._notify(self.declare_listeners, incident.ref))
        # The reply goes to the channel the command came from, which may be
        # public, so a confidential incident's title is not repeated there.
        if incident.confidential:
            headline = (
                f"Declared {incident.severity} incident {incident.ref} "
                "(confidential, so its title stays on the issue)"
            )
        else:
            headline = (
                f"Declared {incident.severity} incident {incident.ref}: "
                f"{incident.title}"
            )
        lines = [
            headline,
            incident.web_url,
            f"Lead: {incident.roles['lead']}. Post status updates with "
            "`!incident update <text>`.",
            *notes,
        ]
        return "\n".join(lines)

    def _open_incident_room(
        self, incident: IncidentRecord, msg: Message
    ) -> tuple[OpenedChannel | None, str]:
        """Create the incident's channel, invite the declarer, and describe it.

        The channel gets a name no channel has had, and is private for a
        confidential incident. Returns the channel, or None when it could not
        be created, and a sentence for the reply.
        """
        member = getattr(msg.frm, "userid", None) or "@" + self._person_name(msg.frm)
        try:
            opened = self.channels.open(incident, self.settings.channel_prefix, member)
        except ChannelError as error:
            note = (
                f"The incident channel could not be created ({error}), so this "
                "channel runs the incident."
            )
            if incident.confidential:
                note += " If this channel is public, keep confidential details out."
            return None, note
        kind = "private channel" if incident.confidential else "channel"
        if opened.taken:
            names = " and ".join(f"#{name}" for name in opened.taken)
            noun = "name" if len(opened.taken) == 1 else "names"
            verb = "is" if len(opened.taken) == 1 else "are"
            # The sentence starts with a word, because Markdown would render a
            # line that starts with "#" as a heading.
            text = (
                f"The {noun} {names} {verb} already taken, so the incident's "
                f"{kind} is #{opened.name}."
            )
        else:
            text = f"The incident's {kind} is #{opened.name}."
        return opened, "\n".join([text, *opened.notes])

    def _announce(self, ref: str) -> None:
        channel = self.settings.announce_channel
        incident = self.store.get(ref)
        if not channel or incident is None:
            return
        if incident.confidential:
            # The announcement channel is open to everyone, so a confidential
            # incident is announced without its title.
            text = (
                f"A confidential {incident.severity} incident was declared by "
                f"{incident.declared_by}: {incident.ref}"
            )
        else:
            text = (
                f"{incident.severity} incident declared by {incident.declared_by}: "
                f"{incident.title}\n{incident.web_url}"
            )
        self._say(channel, text)

    @botcmd
    def incident_attach(self, msg: Message, args: str) -> str:
        """Bind an existing GitLab incident issue to this channel.
        Usage: `incident attach <issue URL>`."""
        return self._guard(msg, lambda: self._attach(msg, self._text(args)))

    def _attach(self, msg: Message, text: str) -> str:
        url = strip_quotes(text.strip())
        if not url:
            raise IncidentError("Missing issue URL: use `incident attach <issue URL>`.")
        channel, target = self._channel(msg)
        before = self._bound_elsewhere(url, channel)
        incident = self.incidents.attach(url, channel, self._person_name(msg.frm))
        with self.store.edit(incident.ref) as stored:
            stored.chat_target = target
        self.reminders.arm_update(incident.ref)
        if before is not None and before.chat_target:
            self._say(
                before.chat_target,
                f"{incident.ref} is now run in another channel, where "
                f"{self._person_name(msg.frm)} attached it.",
            )
        title = " (confidential)" if incident.confidential else f": {incident.title}"
        # An attached S1 or S2 gets its IMOC page like a declared one. The
        # escalation plugin pages once per incident, so a re-attach pages no one.
        notes = self._notify(self.declare_listeners, incident.ref)
        return with_notes(
            f"This channel now runs {incident.ref}{title}\n{incident.web_url}", notes
        )

    def _bound_elsewhere(self, url: str, channel: str) -> IncidentRecord | None:
        """Return the known incident at url if another channel runs it.

        A confidential incident stays in its own channel, which is private,
        so attaching it elsewhere is refused.
        """
        try:
            project, iid = self.gitlab.issue_from_url(strip_quotes(url.strip()))
        except ValueError:
            return None  # attach reports the URL itself.
        incident = self.store.get(f"{project}#{iid}")
        if incident is None or incident.channel == channel:
            return None
        if incident.confidential and incident.state != "resolved":
            raise IncidentError(
                f"{incident.ref} is confidential, so it stays in its own channel; "
                "run its commands there."
            )
        return incident

    @botcmd
    def incident_update(self, msg: Message, args: str) -> str:
        """Post a status update: a GitLab note and the description's current status.
        Usage: `incident update <text>`. Example:
        `incident update Failover done, 5xx rate back to 0.2%`"""
        return self._guard(msg, lambda: self._update(msg, self._text(args)))

    def _update(self, msg: Message, text: str) -> str:
        ref, text = self._target(msg, text)
        user = self._person_name(msg.frm)
        incident = self.incidents.update(ref, text, user)
        self.reminders.arm_update(ref)
        notes = self.channels.refresh(ref, topic=False)
        return with_notes(
            f"Status update for {incident.ref} ({incident.severity}, "
            f"{incident.state}) from {user}:\n{text.strip()}",
            notes,
        )

    @botcmd
    def incident_field(self, msg: Message, args: str) -> str:
        """List the incident's fields, or set one.
        Usage: `incident field` or `incident field <name> <value>`. Example:
        `incident field service Container Registry`"""
        return self._guard(msg, lambda: self._field(msg, self._text(args)))

    def _field(self, msg: Message, text: str) -> str:
        ref, text = self._target(msg, text)
        name, value = split_first(text)
        if not name:
            return self._fields_listing(ref)
        change = self.incidents.set_field(
            ref, name, strip_quotes(value), self._person_name(msg.frm)
        )
        if change.name == "severity":
            # A new severity brings a new update cadence.
            self.reminders.arm_update(ref)
        if change.old == change.new:
            return f"{change.name} of {ref} is already {change.new}."
        notes: list[str] = []
        if change.name in ("severity", "confidential"):
            # The topic and card show the severity, and the title only while
            # the incident is not confidential.
            notes = self.channels.refresh(ref, topic=True)
        if change.name == "severity" and change.old:
            notes.extend(
                self._notify(self.severity_listeners, ref, change.old, change.new)
            )
        before = f" (was {change.old})" if change.old else ""
        return with_notes(f"{change.name} of {ref} is now {change.new}{before}.", notes)

    def _fields_listing(self, ref: str) -> str:
        incident = self.store.require(ref)
        missing: list[str] = []
        rest: list[str] = []
        for name, field in self.settings.fields.items():
            value = incident.fields.get(name)
            if field.kind == "confidential":
                value = "true" if incident.confidential else "false"
            required = " (required)" if field.required else ""
            line = f"- {name}{required}: {value or 'not set'} — {field.help}"
            (missing if field.required and not value else rest).append(line)
        lines = [f"Fields of {ref} (severity {incident.severity}):"]
        if missing:
            lines.append("Missing:")
            lines.extend(missing)
            lines.append("Others:")
        lines.extend(rest)
        lines.append("Set one with `!incident field <name> <value>`.")
        return "\n".join(lines)

    @botcmd
    def incident_summary(self, msg: Message, args: str) -> Iterator[str]:
        """Show the summary, or set its summary, impact or causes section.
        Usage: `incident summary` or `incident summary summary|impact|causes <text>`."""
        yield from self._guard_parts(msg, lambda: self._summary(msg, self._text(args)))

    def _summary(self, msg: Message, text: str) -> list[str]:
        ref, text = self._target(msg, text)
        section, body = split_first(text)
        if not section:
            return self._parts(summary_text(self.store.require(ref)))
        incident = self.incidents.set_summary(ref, section, body)
        stored = incident.summary.get(section.lower(), "")
        if stored.endswith(" on this issue)"):
            return [
                f"The {section.lower()} text is too long for the description of "
                f"{ref}, so the full text is in notes and the description shows "
                "the start of it."
            ]
        return [f"The {section.lower()} section of {ref} is updated."]

    @botcmd
    def incident_impact(self, msg: Message, args: str) -> str:
        """Record when customer impact started or ended.
        Usage: `incident impact start|end [<time>]`; time is now, HH:MM (UTC) or
        ISO 8601. Example: `incident impact start 2025-10-17T16:06:00Z`"""
        return self._guard(msg, lambda: self._impact(msg, self._text(args)))

    def _impact(self, msg: Message, text: str) -> str:
        ref, text = self._target(msg, text)
        edge, when = split_first(text)
        edge = edge.lower()
        if edge not in ("start", "end"):
            raise IncidentError(
                f"Invalid impact edge '{edge}': use "
                "`incident impact start|end [<time>]`."
            )
        at = self._time(when or "now")
        incident = self.incidents.set_impact(ref, edge, at, self._person_name(msg.frm))
        stamp = at.strftime("%Y-%m-%d %H:%M UTC")
        return f"Customer impact {edge} of {incident.ref} set to {stamp}."

    @botcmd
    def incident_timeline(self, msg: Message, args: str) -> Iterator[str]:
        """Show the timeline, or add an entry to it.
        Usage: `incident timeline` or `incident timeline add [<time>] <text>`."""
        yield from self._guard_parts(msg, lambda: self._timeline(msg, self._text(args)))

    def _timeline(self, msg: Message, text: str) -> list[str]:
        ref, text = self._target(msg, text)
        verb, rest = split_first(text)
        if not verb:
            return self._parts(timeline_text(self.store.require(ref)))
        if verb.lower() != "add":
            raise IncidentError(
                f"Unknown timeline command '{verb}': use `incident timeline add "
                "[<time>] <text>`."
            )
        at, body = leading_time(rest, self._now())
        entry = self.incidents.add_timeline(ref, at, body, self._person_name(msg.frm))
        stamp = entry.at.strftime("%Y-%m-%d %H:%M UTC")
        return [f"Added to the timeline of {ref} at {stamp}: {entry.text}"]

    @botcmd
    def incident_role(self, msg: Message, args: str) -> str:
        """Give someone an incident role.
        Usage: `incident role lead|imoc|comms|responder @user`."""
        return self._guard(msg, lambda: self._role(msg, self._text(args)))

    def _role(self, msg: Message, text: str) -> str:
        ref, text = self._target(msg, text)
        role, person = split_first(text)
        if not role or not person:
            raise IncidentError(
                f"Name a role and a person: `incident role {'|'.join(ROLES)} @user`."
            )
        # msg.body is the command as the chat service sent it, where a
        # mention still carries the person's user id.
        return "\n".join(self.set_role_for(msg, ref, role, person, msg.body))

    def set_role_for(
        self, msg: Message, ref: str, role: str, person: str, raw_text: str
    ) -> list[str]:
        """Give a person a role, invite them, and return the reply's lines.

        raw_text is the command as the chat service sent it, where a mention
        carries the person's user id. Other plugins (handover) use this too.
        """
        name = person.strip().lstrip("@")
        if role.lower() in ROLES:
            try:
                self.channels.check_person(name, raw_text)
            except ChannelError as error:
                raise IncidentError(
                    f"Nobody was made {role.lower()}: {error}. Check the name, or "
                    "pick the person from Slack's @ list."
                ) from error
        incident = self.incidents.set_role(
            ref, role, person, self._person_name(msg.frm)
        )
        notes = self.channels.invite(ref, name, raw_text)
        notes += self.channels.refresh(ref, topic=False)
        return [f"{name} is now {role.lower()} of {incident.ref}.", *notes]

    @botcmd
    def incident_roles(self, msg: Message, args: str) -> str:
        """List the incident's roles and who has each. Usage: `incident roles`."""
        return self._guard(msg, lambda: self._roles(msg, self._text(args)))

    def _roles(self, msg: Message, text: str) -> str:
        ref, _ = self._target(msg, text)
        incident = self.store.require(ref)
        lines = [f"Roles of {ref}:"]
        for role in ROLES:
            lines.append(f"- {role}: {incident.roles.get(role, 'nobody')}")
        return "\n".join(lines)

    @botcmd
    def incident_status(self, msg: Message, args: str) -> str:
        """Show the incident's card. Usage: `incident status [<project>#<iid>]`."""
        return self._guard(msg, lambda: self._status(msg, self._text(args)))

    def _status(self, msg: Message, text: str) -> str:
        ref, _ = self._target(msg, text)
        return status_card(self.store.require(ref), self._now())

    @botcmd
    def incident_list(self, msg: Message, args: str) -> str:
        """List the incidents that are not resolved. Usage: `incident list`."""
        return self._guard(msg, self._list)

    def _list(self) -> str:
        now = self._now()
        open_incidents = [i for i in self.store.all() if i.state != "resolved"]
        if not open_incidents:
            return "No incidents are open."
        lines = ["Open incidents:"]
        for incident in open_incidents:
            age = format_age(now - incident.declared_at)
            lead = incident.roles.get("lead", "nobody")
            title = "(confidential)" if incident.confidential else incident.title
            lines.append(
                f"- {incident.ref} {incident.severity} {incident.state}, lead {lead}, "
                f"declared {age} ago: {title}"
            )
        return "\n".join(lines)

    @botcmd
    def incident_mitigate(self, msg: Message, args: str) -> str:
        """Mark the incident mitigated: customers are no longer affected.
        Usage: `incident mitigate`."""
        return self._guard(msg, lambda: self._mitigate(msg, self._text(args)))

    def _mitigate(self, msg: Message, text: str) -> str:
        ref, _ = self._target(msg, text)
        incident = self.incidents.mitigate(ref, self._person_name(msg.frm))
        self.reminders.stop_updates(ref)
        notes = self.channels.refresh(ref, topic=True)
        return with_notes(
            f"{incident.ref} is mitigated. Resolve it with `!incident resolve`.", notes
        )

    @botcmd
    def incident_resolve(self, msg: Message, args: str) -> str:
        """Resolve the incident and close its issue, once the summary, impact
        times and required fields are in. Usage: `incident resolve [--force]`."""
        return self._guard(msg, lambda: self._resolve(msg, self._text(args)))

    def _resolve(self, msg: Message, text: str) -> str:
        ref, rest = self._target(msg, text)
        words = rest.split()
        force = "--force" in words
        unknown = [word for word in words if word != "--force"]
        if unknown:
            raise IncidentError(
                f"Unknown option '{unknown[0]}': use `incident resolve [--force]`."
            )
        incident = self.incidents.resolve(ref, self._person_name(msg.frm), force=force)
        self.reminders.stop_updates(ref)
        self.reminders.forget_messages_later(ref, self._now())
        notes = self.channels.refresh(ref, topic=True)
        notes.extend(self._after_resolve(ref))
        forced = " (forced)" if incident.resolve_forced else ""
        return with_notes(
            f"{incident.ref} is resolved{forced} and its issue is closed.", notes
        )

    # Deliveries and chat messages

    @cmdfilter
    def deliver_once(
        self, msg: Message, cmd: str, args: Any, dry_run: bool
    ) -> tuple[Message | None, str | None, Any]:
        """Drop a command whose message was delivered before (chat services retry)."""
        if dry_run or self.unavailable:
            return msg, cmd, args
        key = delivery_key(msg)
        if key and not self.store.first_delivery(key, self._now(), DELIVERY_MEMORY):
            log.info("dropping repeated delivery %s of command %s", key, cmd)
            return None, None, None
        return msg, cmd, args

    def callback_message(self, msg: Message) -> None:
        """Keep a copy of each message in an incident channel for reactions."""
        self._keep_copy(msg)

    def callback_message_edit(self, msg: Message) -> None:
        """Replace the kept copy of a message someone edited.

        The Slack backend calls this instead of callback_message for an edit,
        so that a pin after the edit copies the text as it reads now. A note
        made before the edit keeps the text it was made from.
        """
        self._keep_copy(msg)

    def _keep_copy(self, msg: Message) -> None:
        if self.unavailable or self._from_bot(msg.frm):
            return
        channel, _ = self._channel(msg)
        if self.store.bound_ref(channel) is None:
            return
        ts = message_ts(msg)
        if ts is None:
            return
        event = slack_event(msg)
        text = slack_text.message_text(event) if event else msg.body
        message = ChatMessage(
            channel=channel,
            ts=ts,
            author=self._person_name(msg.frm),
            posted_at=ts_time(ts) or self._now(),
            text=self._text(text),
            files=tuple(slack_text.file_names(event)) if event else (),
        )
        self.store.put_message(message)

    def callback_reaction(self, reaction: Reaction) -> None:
        """Copy a message onto the incident issue when someone pins or stars it."""
        if self.unavailable or reaction.reactor is None:
            return
        if self._from_bot(reaction.reactor):
            return
        item = reaction.reacted_to if isinstance(reaction.reacted_to, dict) else {}
        if item.get("type", "message") != "message":
            return  # Reactions on files carry no message to copy.
        channel, ts = item.get("channel"), item.get("ts")
        kind = self.pins.kind_of(reaction.reaction_name or "")
        if not channel or not ts or kind is None:
            return
        ref = self.store.bound_ref(channel)
        if ref is None:
            return
        person = self._person_name(reaction.reactor)
        added = reaction.action == REACTION_ADDED
        message = self.store.message(channel, ts) or self._fetch_message(channel, ts)
        try:
            self.pins.react(channel, ts, kind, person, added=added, message=message)
        except (IncidentError, GitLabError) as error:
            log.warning("reaction on %s in %s not applied: %s", ts, channel, error)
            incident = self.store.get(ref)
            if incident is not None and incident.chat_target:
                self._say(incident.chat_target, reaction_failed(person, error))

    def _fetch_message(self, channel: str, ts: str) -> ChatMessage | None:
        """Fetch a message the bot never saw from the chat service, if it can.

        Messages from before the bot joined, and thread replies the backend
        did not pass on, are not in the store. The Slack backend can read them
        back; the text and test backends cannot.
        """
        fetch = getattr(self._bot, "fetch_message", None)
        if fetch is None:
            return None
        try:
            raw = fetch(channel, ts)
        except Exception as error:
            log.warning("could not fetch message %s in %s: %s", ts, channel, error)
            return None
        if not raw:
            return None
        user = raw.get("user")
        if user:
            author = self._person_name(self.build_identifier(f"<@{user}>"))
        else:
            author = str(raw.get("username") or raw.get("bot_id") or "unknown")
        message = ChatMessage(
            channel=channel,
            ts=ts,
            author=author,
            posted_at=ts_time(ts) or self._now(),
            text=self._text(slack_text.message_text(raw)),
            files=tuple(slack_text.file_names(raw)),
        )
        self.store.put_message(message)
        return message

    # Reminders

    def run_reminders(self) -> None:
        """Run due reminders and drop delivery records older than Slack retries."""
        if self.unavailable:
            return
        self.schedule.run_due()
        self.store.forget_deliveries(self._now(), DELIVERY_MEMORY)

    # Helpers

    def _after_resolve(self, ref: str) -> list[str]:
        """Run what other plugins do once an incident is resolved."""
        return self._notify(self.resolve_listeners, ref)

    def _notify(
        self, listeners: list[Callable[..., list[str]]], *args: str
    ) -> list[str]:
        """Run other plugins' listeners and gather their sentences.

        The command already succeeded, so a failing listener is logged and
        the others still run.
        """
        notes: list[str] = []
        for listener in listeners:
            try:
                notes.extend(listener(*args))
            except Exception:
                log.exception("a listener failed for %s", args[0])
        return notes

    # Helpers that other plugins use through DependsOn = Incident

    def run_command(self, msg: Message, work: Callable[[], str]) -> str:
        """Run a command, turning known failures into one sentence for chat."""
        return self._guard(msg, work)

    def command_help(
        self,
        msg: Message,
        args: str,
        command: str,
        title: str,
        usages: Sequence[str],
    ) -> str:
        """Return the help of a command with subcommands, to its author only.

        args is what followed the command: empty or "help" asks for the
        usage lines, and any other first word is an unknown subcommand.
        """
        word = args.split()[0] if args.strip() else ""
        lines = "\n".join(f"!{command} {usage}" for usage in usages)
        if word and word.lower() != "help":
            return self._private(
                msg, f"Unknown command '{command} {word}'. Use one of:\n{lines}"
            )
        return self._private(msg, f"{title}:\n{lines}")

    def chat_text(self, text: str) -> str:
        """Decode chat text once into what the person typed."""
        return self._text(text)

    def incident_for(self, msg: Message, text: str) -> tuple[str, str]:
        """Return the incident a command is about, and the rest of its text."""
        return self._target(msg, text)

    def person_name(self, identifier: Any) -> str:
        return self._person_name(identifier)

    def chat_channel(self, msg: Message) -> tuple[str, str]:
        """Return the conversation's id and the identifier to send to it."""
        return self._channel(msg)

    def say(self, target: str, text: str) -> None:
        """Post text to a chat target; a failure is logged."""
        self._say(target, text)

    def from_bot(self, identifier: Any) -> bool:
        return self._from_bot(identifier)

    def mention(self, handle: str) -> str:
        """Return a live chat mention of "@name" or a Slack user id.

        A name the backend cannot resolve to a user id comes back escaped,
        as plain text that pings no one.
        """
        if not handle.startswith("@"):
            return f"<@{handle}>"
        try:
            identifier = self.build_identifier(handle)
        except Exception as error:
            log.warning("could not find the chat user %s: %s", handle, error)
            return self._out(handle)
        user_id = getattr(identifier, "userid", None)
        return f"<@{user_id}>" if user_id else self._out(handle)

    def post(self, target: str, text: str, *, escape: bool = True) -> bool:
        """Post text to a chat target and return whether the post went through.

        The Slack backend returns the posted message, with no timestamps in
        extras["ts"] when Slack rejected the post (is_archived, for example).
        Backends that return nothing count as posted.
        """
        if not target:
            return False
        body = self._out(text) if escape else text
        try:
            sent = self.send(self.build_identifier(target), body)
        except Exception:
            log.exception("could not post to %s", target)
            return False
        if sent is not None and "ts" in getattr(sent, "extras", {}):
            return bool(sent.extras["ts"])
        return True

    def out(self, text: str) -> str:
        """Escape text for the chat service, as replies are."""
        return self._out(text)

    def slack_markup(self) -> bool:
        """Say whether chat text is Slack's markup (mentions as <@U123>)."""
        return self._slack_markup()

    def _guard(self, msg: Message, work: Callable[[], str]) -> str:
        """Run a command and turn known failures into one sentence for chat."""
        if self.unavailable:
            return self._private(msg, self.unavailable)
        try:
            return self._out(work())
        except Exception as error:
            return self._private(msg, self._failure(error))

    def _guard_parts(self, msg: Message, work: Callable[[], list[str]]) -> list[str]:
        """Run a command whose reply may need several chat messages."""
        if self.unavailable:
            return [self._private(msg, self.unavailable)]
        try:
            text = "\n".join(work())
        except Exception as error:
            return [self._private(msg, self._failure(error))]
        return self._parts(self._out(text))

    def _private(self, msg: Message, text: str) -> str:
        """Return a reply that only the person who ran the command needs.

        Errors and help are for the one who typed the command. A backend that
        can show a reply to one person only (Slack, for slash commands) reads
        this mark when it builds the reply; the others post it as usual.
        """
        msg.extras[PRIVATE_REPLY] = True
        return self._out(text)

    def _failure(self, error: Exception) -> str:
        if isinstance(error, IncidentError | IncidentNotFound):
            return sentence(str(error))
        if isinstance(error, GitLabError):
            return gitlab_failure(error)
        error_id = secrets.token_hex(4)
        log.error("command failed, error id %s", error_id, exc_info=error)
        return (
            f"The command failed unexpectedly (error id {error_id}); the bot's "
            "log has the details."
        )

    def _parts(self, text: str) -> list[str]:
        return split_for_slack(text) if self._slack_markup() else [text]

    def _out(self, text: str) -> str:
        return slack_text.escape(text) if self._slack_markup() else text

    def _slack_markup(self) -> bool:
        forced = getattr(self.bot_config, "INCIDENT_CHAT_MARKUP", None)
        if forced:
            return str(forced) == "slack"
        return self._bot.mode in SLACK_MODES

    def _text(self, text: str) -> str:
        """Decode chat text once into what the person typed."""
        if not self._slack_markup():
            return text
        return slack_text.decode(
            text, user_name=self.user_name, group_name=self.group_name
        )

    def user_name(self, user_id: str) -> str | None:
        """Return the chat name of a Slack user id, or None if unknown."""
        lookup = getattr(self._bot, "userid_to_username", None)
        if lookup is None:
            return None
        try:
            return str(lookup(user_id))
        except Exception:
            log.warning("could not look up the name of Slack user %s", user_id)
            return None

    def group_name(self, group_id: str) -> str | None:
        """Return the handle of a Slack user group, or None if unknown.

        The Slack backend extension looks handles up. With the stock backend,
        decoding uses the label Slack puts in the message, when there is one.
        """
        lookup = getattr(self._bot, "usergroup_handle", None)
        if lookup is None:
            return None
        try:
            handle = lookup(group_id)
        except Exception:
            log.warning("could not look up the handle of Slack user group %s", group_id)
            return None
        return str(handle) if handle else None

    def _time(self, text: str) -> datetime:
        return checked_time(text, self._now())

    def _target(self, msg: Message, text: str) -> tuple[str, str]:
        """Return the incident a command is about, and the rest of its text.

        In an incident channel that is the channel's incident. A command there
        that starts with another known incident's reference is rejected rather
        than guessed at. Elsewhere the first word must name a known incident,
        and a confidential one is only served in its own channel.
        """
        first, rest = split_first(text)
        channel, _ = self._channel(msg)
        bound = self.store.bound_ref(channel)
        named = first if "#" in first and self.store.get(first) else None
        if bound is not None:
            if named is None and self._names_incident_project(first):
                # A mistyped incident number must not act on this channel's
                # incident. Other projects' issues (a bug) are text.
                raise IncidentError(
                    f"No incident {first} is known to the bot: check the reference "
                    "with `incident list`, or leave it out to mean this channel's "
                    f"incident {bound}."
                )
            if named is None:
                return bound, text
            if named == bound:
                return bound, rest
            raise IncidentError(
                f"This channel runs {bound}, not {named}. Run commands for "
                f"{named} in its own channel, or start the text with another "
                "word."
            )
        if named is None:
            if "#" in first and not first.startswith("#"):
                raise IncidentError(
                    f"No incident {first} is known to the bot: check the "
                    "reference with `incident list`."
                )
            raise IncidentError(
                "This channel has no incident. Run the command in the incident's "
                "channel, or name the incident first, for example "
                "`incident status infra/production#12`."
            )
        incident = self.store.require(named)
        if incident.confidential:
            raise IncidentError(
                f"{named} is confidential, so commands about it work only in its "
                "own channel."
            )
        return named, rest

    def _names_incident_project(self, word: str) -> bool:
        """Say whether word is an issue reference in the incident project."""
        if not INCIDENT_REF.fullmatch(word):
            return False
        project = word.rpartition("#")[0]
        return project.casefold() == self.settings.incident_project.casefold()

    def _channel(self, msg: Message) -> tuple[str, str]:
        """Return the conversation's id and the identifier to send to it."""
        if isinstance(msg.to, Room) or msg.is_group:
            room = msg.to
            room_id = getattr(room, "id", None) or str(room)
            return str(room_id), str(room)
        return f"dm:{msg.frm}", str(msg.frm)

    def _person_name(self, identifier: Any) -> str:
        for attribute in ("username", "nick", "person"):
            value = getattr(identifier, attribute, None)
            if value:
                return str(value).lstrip("@")
        return str(identifier).lstrip("@")

    def _from_bot(self, identifier: Any) -> bool:
        # Occupant identifiers compare rooms too, so compare the person parts.
        bot = self.bot_identifier
        if getattr(identifier, "person", None) == getattr(bot, "person", None):
            return True
        bot_id = getattr(bot, "userid", None)
        return bool(bot_id) and getattr(identifier, "userid", None) == bot_id

    def _say(self, target: str, text: str) -> None:
        if not target:
            return
        try:
            identifier = self.build_identifier(target)
            for part in self._parts(self._out(text)):
                self.send(identifier, part)
        except Exception:
            log.exception("could not post to %s", target)
