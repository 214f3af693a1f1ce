"""Errbot plugin: page people through PagerDuty, engage groups, hand roles over.

Commands: `incident escalate`, `pd services`, `pd trigger`, `incident engage`,
`incident handover` and `incident checklist`. Besides them, the plugin pages
the IMOC when an incident is declared with, or raised to, a severity whose
page_imoc is set. It keeps the IMOC checklist of Severity 1 incidents, prompts
the incoming IMOC to take over when the on-call shift changes, and reminds a
new IMOC member to arrange a feedback chat after their first S1 or S2. It uses the
Incident plugin's store, GitLab adapter and scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from errbot import BotPlugin, botcmd
from errbot.backends.base import Message

from incidentbot.args import split_first, strip_quotes
from incidentbot.escalation_settings import EscalationSettings
from incidentbot.handover import handover_brief
from incidentbot.imoc_checklist import ITEM_KEYS, checklist_text, open_items
from incidentbot.imoc_duty import ImocDuty
from incidentbot.model import Page
from incidentbot.pagerduty_setup import connect_pagerduty
from incidentbot.paging import Paging, PagingError, page_reply
from incidentbot.schedule import Reminder

log = logging.getLogger(__name__)

CHECKLIST_REMINDER = "imoc_checklist"
SHIFT_CHECK = "imoc_shift"
FEEDBACK_REMINDER = "imoc_feedback"
HANDOVER_ROLES = ("imoc", "lead")
PD_COMMANDS = ("services", "trigger <service> [<message>]")
# Lines this plugin adds to `incident help`.
HELP_LINES = (
    "escalate [<team> <message>]",
    "engage <group> [<message>]",
    "handover [imoc|lead] @user [<note>]",
    "handover accept",
    "checklist [done <item>]",
)


class Escalation(BotPlugin):
    """Page, escalate, engage groups and hand incident roles over."""

    def activate(self) -> None:
        super().activate()
        self.incident: Any = self.get_plugin("Incident")
        self.ready = not self.incident.unavailable
        if not self.ready:
            return
        self.settings: EscalationSettings = self.incident.settings.escalation
        self.setup = connect_pagerduty(self.bot_config, self.settings.limits)
        self.paging = Paging(
            self.incident.store,
            self.incident.incidents,
            self.setup,
            self.settings,
            self._now,
        )
        self.duty = ImocDuty(self.setup, self.settings)
        self.incident.help_lines.extend(HELP_LINES)
        self.incident.declare_listeners.append(self._declared)
        self.incident.severity_listeners.append(self._severity_changed)
        self.incident.resolve_listeners.append(self._resolved)
        schedule = self.incident.schedule
        schedule.on(CHECKLIST_REMINDER, self._remind_checklist)
        schedule.on(SHIFT_CHECK, self._check_shift)
        schedule.on(FEEDBACK_REMINDER, self._remind_feedback)
        if self.duty.watches_shifts and schedule.get(SHIFT_CHECK) is None:
            schedule.set(Reminder(SHIFT_CHECK, SHIFT_CHECK, "", self._now()))

    def deactivate(self) -> None:
        if getattr(self, "ready", False):
            # Errbot can reload a plugin, and the Incident plugin would then
            # call this one's old methods as well as the new ones.
            hooks: list[tuple[list[Any], Any]] = [
                (self.incident.declare_listeners, self._declared),
                (self.incident.severity_listeners, self._severity_changed),
                (self.incident.resolve_listeners, self._resolved),
            ]
            hooks += [(self.incident.help_lines, line) for line in HELP_LINES]
            for hooked, item in hooks:
                if item in hooked:
                    hooked.remove(item)
        super().deactivate()

    def _now(self) -> datetime:
        # Read the Incident plugin's clock on every call, because tests
        # replace it after the plugins are activated.
        clock: datetime = self.incident.clock()
        return clock

    # Commands

    @botcmd
    def incident_escalate(self, msg: Message, args: str) -> str:
        """Page a team with a message, or list the teams.
        Usage: `incident escalate [<team> <message>]`. Example:
        `incident escalate leadership Checkout is down for all customers`"""
        return self._run(msg, args, self._escalate, lists=self._teams)

    def _teams(self) -> str:
        return _listing(
            self.settings.teams,
            "Teams you can escalate to (`incident escalate <team> <message>`):",
            "No escalation teams are set up: add [escalation.teams.<key>] "
            "tables to the settings.",
        )

    def _escalate(self, msg: Message, ref: str, text: str) -> str:
        team_text, message = self._split_target(text, self.settings.team)
        team = self.paging.find_team(team_text)
        if not message:
            raise PagingError(
                f"Say what {team.name} should know: `incident escalate "
                f"{team.key} <message>`."
            )
        self._check_may_page(msg, ref)
        page = self.paging.escalate(ref, team, message, self._user(msg))
        return page_reply(ref, page)

    @botcmd
    def pd(self, msg: Message, args: str) -> str:
        """Page PagerDuty services. Commands: `pd services`,
        `pd trigger <service> [<message>]`."""
        return str(
            self.incident.command_help(
                msg, args, "pd", "PagerDuty commands", PD_COMMANDS
            )
        )

    @botcmd
    def pd_services(self, msg: Message, args: str) -> str:
        """List the PagerDuty services you can page. Usage: `pd services`."""
        return str(self.incident.run_command(msg, self._services))

    def _services(self) -> str:
        text = _listing(
            self.settings.services,
            "PagerDuty services you can page (`pd trigger <service> [<message>]`):",
            "No PagerDuty services are set up: add [pagerduty.services.<key>] "
            "tables to the settings.",
        )
        if self.settings.services and self.setup.client is None:
            text += "\n" + self.setup.off_reason
        return text

    @botcmd
    def pd_trigger(self, msg: Message, args: str) -> str:
        """Page a PagerDuty service about this incident.
        Usage: `pd trigger <service> [<message>]`. Example:
        `pd trigger cmoc Please post to the status page`"""
        return self._run(msg, args, self._trigger)

    def _trigger(self, msg: Message, ref: str, text: str) -> str:
        service_text, message = self._split_target(text, self.settings.service)
        if not service_text:
            raise PagingError(
                "Name the service to page: `pd trigger <service> [<message>]`. "
                "`pd services` lists them."
            )
        service = self.paging.find_service(service_text)
        self._check_may_page(msg, ref)
        page = self.paging.trigger(ref, service, message, self._user(msg))
        return page_reply(ref, page)

    @botcmd
    def incident_engage(self, msg: Message, args: str) -> str:
        """Mention a Slack user group, such as the release managers, in this
        incident. Usage: `incident engage <group> [<message>]`."""
        mention: list[str] = []
        reply = self._run(
            msg, args, lambda msg, ref, text: self._engage(msg, ref, text, mention)
        )
        # The group mention is added after the reply was escaped, because
        # escaping would turn it into plain text that notifies no one.
        return f"{mention[0]} {reply}" if mention else reply

    def _engage(self, msg: Message, ref: str, text: str, mention: list[str]) -> str:
        """Engage a group; its live mention goes into `mention` for the reply."""
        group_text, message = self._split_target(text, self.settings.group)
        group = self.paging.find_group(group_text)
        self._check_may_page(msg, ref)

        incident = self.incident.store.require(ref)
        title = "" if incident.confidential else f": {incident.title}"
        lines = [f"you are engaged in {ref} ({incident.severity}{title})."]
        if message:
            lines.append(message)
        text = "\n".join(lines)
        live = self._group_mention(group.handle, group.slack_id)
        channel, _ = self.incident.chat_channel(msg)
        if channel == incident.channel:
            mention.append(live)
        else:
            # The group works in the incident's channel, so the mention goes
            # there: a mention that no one there saw engages no one.
            body = f"{live} {self.incident.out(text)}"
            if not self.incident.post(incident.chat_target, body, escape=False):
                raise PagingError(
                    f"The mention of {group.name} could not be posted in the "
                    f"channel of {ref}, so no one was engaged. Run the command "
                    "there, or mention the group by hand."
                )
            text = f"Mentioned {group.name} in the channel of {ref}."

        self.paging.record_mention(
            ref,
            Page(
                kind="group",
                target=group.key,
                name=group.name,
                at=self._now(),
                by=self._user(msg),
                message=message,
                outcome="mentioned",
            ),
        )
        return text

    @botcmd
    def incident_handover(self, msg: Message, args: str) -> str:
        """Pass your IMOC or lead role to someone, with a brief. Usage:
        `incident handover [imoc|lead] @user [<note>]`, or
        `incident handover accept` when the bot asked you to take over."""
        return self._run(msg, args, self._handover)

    def _handover(self, msg: Message, ref: str, text: str) -> str:
        user = self._user(msg)
        first, rest = split_first(text)
        if first.lower() == "accept":
            return self._accept(msg, ref, user)

        incident = self.incident.store.require(ref)
        role = ""
        if first.lower() in HANDOVER_ROLES:
            role = first.lower()
            first, rest = split_first(rest)
        person = first.lstrip("@")
        if not person:
            raise PagingError(
                "Name who takes over: `incident handover [imoc|lead] @user [<note>]`."
            )
        if not role:
            roles = [
                name for name in HANDOVER_ROLES if incident.roles.get(name) == user
            ]
            if not roles:
                raise PagingError(
                    f"You hold neither the IMOC nor the lead role of {ref}, so name "
                    "the role to pass: `incident handover imoc @user` or "
                    "`incident handover lead @user`."
                )
            role = roles[0]

        if incident.roles.get(role) == person:
            raise PagingError(
                f"The {role} of {ref} is already {person}; name someone else."
            )
        old = incident.roles.get(role, "")
        return self._pass_role(msg, ref, role, old, person, rest)

    def _accept(self, msg: Message, ref: str, user: str) -> str:
        incident = self.incident.store.require(ref)
        if incident.state == "resolved":
            raise PagingError(f"{ref} is resolved, so its IMOC role needs no one.")
        if not incident.handover_offer:
            raise PagingError(
                f"Nobody was asked to take the IMOC role of {ref} over. To pass a "
                "role, use `incident handover imoc @user`."
            )
        if incident.handover_offer != user:
            raise PagingError(
                f"The bot asked {incident.handover_offer}, who is on call now, to "
                f"take the IMOC role of {ref} over, so only they can accept."
            )
        old = incident.roles.get("imoc", "")
        reply = self._pass_role(msg, ref, "imoc", old, user, "")
        with self.incident.store.edit(ref) as stored:
            stored.handover_offer = ""
        return reply

    def _pass_role(
        self, msg: Message, ref: str, role: str, old: str, new: str, note: str
    ) -> str:
        # The Incident plugin checks that the person exists in chat, invites
        # them to the channel and records the change on the timeline.
        reply = self.incident.set_role_for(msg, ref, role, new, msg.body)
        incident = self.incident.store.require(ref)
        brief = handover_brief(
            incident, role, old, new, note, self._now(), by=self._user(msg)
        )
        return "\n".join([brief, *reply[1:]])

    @botcmd
    def incident_checklist(self, msg: Message, args: str) -> str:
        """Show the IMOC checklist of a Severity 1 incident, or tick an item.
        Usage: `incident checklist [done <item>]`."""
        return self._run(msg, args, self._checklist)

    def _checklist(self, msg: Message, ref: str, text: str) -> str:
        verb, rest = split_first(text)
        incident = self.incident.store.require(ref)
        if not verb:
            return checklist_text(incident, self.settings)
        if verb.lower() != "done":
            raise PagingError(
                f"Unknown checklist command '{verb}': use `incident checklist` or "
                "`incident checklist done <item>`."
            )
        item = strip_quotes(rest.strip()).strip().lower()
        if not item:
            raise PagingError(
                f"Name the item that is done: use one of {', '.join(ITEM_KEYS)}."
            )
        if item not in ITEM_KEYS:
            raise PagingError(
                f"Unknown checklist item '{rest.strip()}': use one of "
                f"{', '.join(ITEM_KEYS)}."
            )
        stamp = f"{self._user(msg)} at {self._now():%H:%M} UTC"
        with self.incident.store.edit(ref) as stored:
            # The first tick names who did the work, so a second keeps it.
            stored.checklist_ticks.setdefault(item, stamp)
        return checklist_text(self.incident.store.require(ref), self.settings)

    # What happens on its own

    def _declared(self, ref: str) -> list[str]:
        incident = self.incident.store.require(ref)
        return self._severity_reached(ref, incident.severity, incident.declared_by)

    def _severity_changed(self, ref: str, old: str, new: str) -> list[str]:
        incident = self.incident.store.require(ref)
        # The timeline is in time order, and an entry added for a later time
        # can follow the severity change, so the change is found by its kind.
        changes = [entry for entry in incident.timeline if entry.kind == "severity"]
        by = changes[-1].author if changes else ""
        return self._severity_reached(ref, new, by)

    def _severity_reached(self, ref: str, severity: str, by: str) -> list[str]:
        notes: list[str] = []
        level = self.incident.settings.severities.get(severity)
        if level is None or self.incident.store.require(ref).state == "resolved":
            # A severity corrected after the incident (in its review, say)
            # pages no one.
            return notes
        if level.page_imoc:
            notes.extend(self._page_imoc(ref, severity, by))
        if level.level == 1:
            notes.extend(self._start_checklist(ref))
        return notes

    def _page_imoc(self, ref: str, severity: str, by: str) -> list[str]:
        """Page the IMOC once per incident; a failed page is tried on the next raise."""
        with self.incident.store.lock(f"imoc-page/{ref}"):
            incident = self.incident.store.require(ref)
            if incident.imoc_page == "paged":
                return []
            service = self.settings.service(self.settings.imoc_service)
            if service is None:
                return [
                    f"{severity} incidents page the IMOC, but the settings name no "
                    "IMOC service ([escalation] imoc_service), so page the IMOC "
                    "by hand."
                ]
            if self.setup.client is None:
                return [
                    f"{severity} incidents page the IMOC, but the bot could not: "
                    f"{self.setup.off_reason}"
                ]
            page = self.paging.trigger(ref, service, "", by, automatic=True)
            with self.incident.store.edit(ref) as stored:
                stored.imoc_page = "paged" if page.reached else "failed"
        return [page_reply(ref, page)]

    def _start_checklist(self, ref: str) -> list[str]:
        """Post the checklist the first time an incident is S1, and remind of it.

        An incident raised to S1 again after a drop gets its reminders back,
        but not a second copy of the checklist.
        """
        with self.incident.store.edit(ref) as incident:
            first = not incident.checklist_posted
            incident.checklist_posted = True
        key = f"{CHECKLIST_REMINDER}/{ref}"
        if self.incident.schedule.get(key) is None:
            due = self._now() + self.settings.checklist_reminder
            self.incident.schedule.set(Reminder(key, CHECKLIST_REMINDER, ref, due))
        if not first:
            return []
        incident = self.incident.store.require(ref)
        text = checklist_text(incident, self.settings)
        # On Slack the declare reply goes to the channel it was typed in, but
        # the IMOC works from the incident's own channel.
        if incident.created_channel and self.incident.post(incident.chat_target, text):
            return []
        return [text]

    def _remind_checklist(self, reminder: Reminder, now: datetime) -> datetime | None:
        incident = self.incident.store.get(reminder.ref)
        if incident is None or incident.state == "resolved":
            return None
        level = self.incident.settings.severities.get(incident.severity)
        if level is None or level.level != 1:
            return None
        items = open_items(incident, self.settings)
        if not items:
            return None
        person = incident.roles.get("imoc", "")
        who = self.incident.mention("@" + person) if person else "IMOC"
        text = self.incident.out(
            f"the IMOC checklist of {incident.ref} still has open items: "
            + "; ".join(f"{item.text} (`{item.key}`)" for item in items)
            + ". `incident checklist` shows it."
        )
        if not person:
            text += self.incident.out(
                " Nobody holds the IMOC role: `incident role imoc @name`."
            )
        self.incident.post(incident.chat_target, f"{who}: {text}", escape=False)
        return now + self.settings.checklist_reminder

    def _check_shift(self, reminder: Reminder, now: datetime) -> datetime | None:
        """Ask the incoming IMOC to take over open incidents, once per shift."""
        change = self.duty.shift_change(self)
        if change is not None:
            for incident in self.incident.store.all():
                if incident.state == "resolved" or not self._needs_imoc(incident):
                    continue
                self._offer_handover(incident.ref, change.user_id, change.handle)
        return now + self.settings.shift_check

    def _needs_imoc(self, incident: Any) -> bool:
        level = self.incident.settings.severities.get(incident.severity)
        return bool("imoc" in incident.roles or (level and level.page_imoc))

    def _offer_handover(self, ref: str, shift: str, handle: str) -> None:
        with self.incident.store.edit(ref) as incident:
            if incident.handover_shift == shift:
                return
            incident.handover_shift = shift
            name = handle.lstrip("@")
            if incident.roles.get("imoc") == name:
                incident.handover_offer = ""
                return
            incident.handover_offer = name
            current = incident.roles.get("imoc", "")
            target = incident.chat_target
        holder = (
            f"{current} is the IMOC of {ref}" if current else f"{ref} has no IMOC yet"
        )
        text = self.incident.out(
            f"the IMOC shift changed and you are on call now. {holder}. Take the "
            "IMOC role over with `incident handover accept` in this channel; the "
            "bot then posts the brief."
        )
        self.incident.post(
            target, f"{self.incident.mention(handle)}: {text}", escape=False
        )

    def _resolved(self, ref: str) -> list[str]:
        with self.incident.store.edit(ref) as incident:
            incident.handover_offer = ""
        self.incident.schedule.cancel(f"{CHECKLIST_REMINDER}/{ref}")
        level = self.incident.settings.severities.get(incident.severity)
        person = incident.roles.get("imoc", "")
        if not person or level is None or not level.page_imoc:
            return []
        if not self.duty.is_new_imoc(person, self):
            return []
        key = f"{FEEDBACK_REMINDER}/{person}"
        self.incident.schedule.set(
            Reminder(key, FEEDBACK_REMINDER, ref, self._now(), {"person": person})
        )
        return []

    def _remind_feedback(self, reminder: Reminder, now: datetime) -> datetime | None:
        incident = self.incident.store.get(reminder.ref)
        person = str(reminder.data.get("person", ""))
        if incident is None or not person:
            return None
        engineer, comms = self.duty.feedback_partners()
        text = self.incident.out(
            f"{incident.ref} was your first {incident.severity} incident as IMOC. "
            f"Arrange a feedback chat with {engineer} and {comms}."
        )
        posted = self.incident.post(
            incident.chat_target,
            f"{self.incident.mention('@' + person)}: {text}",
            escape=False,
        ) or self.incident.post(f"@{person}", text, escape=False)
        if posted:
            self.duty.mark_feedback_sent(person, self)
        return None if posted else now + self.settings.shift_check

    # Helpers

    def _run(
        self,
        msg: Message,
        args: str,
        work: Callable[[Message, str, str], str],
        *,
        lists: Callable[[], str] | None = None,
    ) -> str:
        def command() -> str:
            if not self.ready:
                raise PagingError(self.incident.unavailable)
            text = self.incident.chat_text(args)
            if lists is not None and not text.strip():
                return lists()
            ref, rest = self.incident.incident_for(msg, text)
            if lists is not None and not rest.strip():
                return lists()
            return work(msg, ref, rest)

        return str(self.incident.run_command(msg, command))

    def _split_target(self, text: str, lookup: Callable[[str], Any]) -> tuple[str, str]:
        """Split a service, team or group name from the message after it.

        The name is a key, a quoted display name, or an unquoted display name
        of several words; the longest one that the settings know wins.
        """
        text = text.strip()
        if text and text[0] in "\"'“":
            closing = "”" if text[0] == "“" else text[0]
            end = text.find(closing, 1)
            if end > 0:
                return strip_quotes(text[: end + 1]), text[end + 1 :].strip()
        words = text.split()
        for count in range(len(words), 0, -1):
            name = " ".join(words[:count])
            if lookup(name) is not None:
                # maxsplit keeps the message after the name as it was typed.
                parts = text.split(maxsplit=count)
                return name, parts[count] if len(parts) > count else ""
        return split_first(text)

    def _check_may_page(self, msg: Message, ref: str) -> None:
        """Let incident channels, incident role holders and listed pagers page.

        No one pages for a resolved incident, because a new outage is a new
        incident.
        """
        if self.incident.store.require(ref).state == "resolved":
            raise PagingError(
                f"{ref} is resolved, so the bot pages no one for it. If the "
                "problem is back, declare a new incident, or page by hand in "
                "PagerDuty."
            )
        channel, _ = self.incident.chat_channel(msg)
        if self.incident.store.bound_ref(channel) is not None:
            return
        user = self._user(msg)
        for incident in self.incident.store.all():
            if incident.state != "resolved" and user in incident.roles.values():
                return
        user_id = getattr(msg.frm, "userid", None)
        if f"@{user}" in self.settings.pagers or user_id in self.settings.pagers:
            return
        listed = ", ".join(self.settings.pagers) or "nobody yet"
        raise PagingError(
            "Only people in an incident channel, people with a role in an open "
            f"incident, and the pagers in the settings ({listed}) can page. Run "
            "the command in the incident's channel, or ask the lead to give you "
            "a role."
        )

    def _group_mention(self, handle: str, slack_id: str) -> str:
        if slack_id and self.incident.slack_markup():
            return f"<!subteam^{slack_id}>"
        return str(self.incident.out(handle))

    def _user(self, msg: Message) -> str:
        return str(self.incident.person_name(msg.frm))


def _listing(entries: dict[str, Any], title: str, empty: str) -> str:
    """List settings entries as "- key: name" lines under a title."""
    if not entries:
        return empty
    lines = [title, *(f"- {key}: {entry.name}" for key, entry in entries.items())]
    return "\n".join(lines)
