"""Errbot plugin: GitLab issues pasted in an incident channel become follow-ups.

The plugin links them to the incident issue, changes them on request (owner,
project, labels, corrective action, rejection), lists what each still lacks,
and reminds the lead, then the IMOC, when the review is due. It uses the
Incident plugin's store, GitLab adapter and scheduler.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from errbot import BotPlugin, botcmd
from errbot.backends.base import Message

from incidentbot.args import split_first
from incidentbot.business_days import review_deadline
from incidentbot.chat_events import message_ts, slack_event
from incidentbot.followups import FollowupError, MovedOnGitLab, NotAnIssue
from incidentbot.followups import Followups as FollowupService
from incidentbot.gitlab_api import GitLabError
from incidentbot.gitlab_links import GitLabLinks, NotFollowupKind, find_gitlab_links
from incidentbot.incident_review import IncidentReviews, ManagerNotice
from incidentbot.model import FollowUp, Incident
from incidentbot.schedule import Reminder
from incidentbot.times import format_age, format_utc

log = logging.getLogger(__name__)

REVIEW_REMINDER = "followup_review"
# A review issue that GitLab failed to create is tried again this often.
REVIEW_ISSUE = "review_issue"
REVIEW_ISSUE_RETRY = timedelta(minutes=15)
COMMANDS = (
    "add <title>",
    "list",
    "review",
    "link <ref>",
    "owner <ref> @user",
    "move <ref> [<ref>...] <project>",
    "label <ref> <label>[, <label>...]",
    "reject <ref> [<reason>]",
    "corrective <ref>",
)


class Followups(BotPlugin):
    """Link, change, review and remind about the follow-ups of incidents."""

    def activate(self) -> None:
        super().activate()
        self.incident: Any = self.get_plugin("Incident")
        self.ready = not self.incident.unavailable
        if not self.ready:
            return
        self.service = FollowupService(
            self.incident.store,
            self.incident.gitlab,
            self.incident.incidents,
            self.incident.settings,
            self._now,
        )
        self.reviews = IncidentReviews(
            self.incident.store,
            self.incident.gitlab,
            self.incident.settings,
            self._now,
        )
        self.incident.schedule.on(REVIEW_REMINDER, self._remind)
        self.incident.schedule.on(REVIEW_ISSUE, self._retry_review_issue)
        self.incident.resolve_listeners.append(self._resolved)

    def _now(self) -> datetime:
        # Read the Incident plugin's clock on every call, because tests
        # replace it after the plugins are activated.
        return self.incident.clock()

    # Commands

    @botcmd
    def followup(self, msg: Message, args: str) -> str:
        """Follow-ups of the incident. Commands: `followup add|list|review|link|
        owner|move|label|reject|corrective`. Example: `followup list`."""
        word = args.split()[0] if args.strip() else ""
        lines = "\n".join(f"!followup {usage}" for usage in COMMANDS)
        if word and word.lower() != "help":
            return self.incident.run_command(
                msg,
                lambda: _raise(
                    f"Unknown command 'followup {word}'. Use one of:\n{lines}"
                ),
            )
        return self.incident.run_command(msg, lambda: "Follow-up commands:\n" + lines)

    @botcmd
    def followup_add(self, msg: Message, args: str) -> str:
        """Create a follow-up issue in the follow-up project and link it.
        Usage: `followup add <title>`."""
        return self._run(msg, args, self._add)

    def _add(self, msg: Message, ref: str, text: str) -> str:
        user = self.incident.person_name(msg.frm)
        followup = self.service.add(ref, text, user)
        self._arm(ref)
        return f"Created {followup.ref} and linked it to {ref}: {followup.web_url}"

    @botcmd
    def followup_list(self, msg: Message, args: str) -> str:
        """List the incident's follow-ups. Usage: `followup list`."""
        return self._run(msg, args, self._list)

    def _list(self, msg: Message, ref: str, text: str) -> str:
        incident = self.incident.store.require(ref)
        if not incident.followups:
            return (
                f"{ref} has no follow-ups yet. Paste a GitLab issue link here, or "
                "use `followup add <title>`."
            )
        lines = [f"Follow-ups of {ref}:"]
        for number, followup in enumerate(incident.followups, 1):
            lines.append(f"{number}. {describe(followup)}")
        return "\n".join(lines)

    @botcmd
    def followup_review(self, msg: Message, args: str) -> str:
        """Show what each follow-up still lacks and when the review is due.
        Usage: `followup review`."""
        return self._run(msg, args, self._review)

    def _review(self, msg: Message, ref: str, text: str) -> str:
        items = self.service.review(ref)
        if not items:
            return f"{ref} has no follow-ups to review."
        lines = [f"Review of the follow-ups of {ref}:"]
        for number, item in enumerate(items, 1):
            due = (
                f"due {format_utc(item.due)}, {self._lead_time(item.due)}"
                if item.due
                else "due the business day after the incident is resolved"
            )
            if item.lacks:
                lines.append(
                    f"{number}. {item.followup.ref}: lacks {', '.join(item.lacks)}"
                    f" ({due})"
                )
            else:
                lines.append(f"{number}. {item.followup.ref}: complete")
        return "\n".join(lines)

    @botcmd
    def followup_link(self, msg: Message, args: str) -> str:
        """Link a GitLab issue as a follow-up. Usage: `followup link <issue URL>`
        or `followup link group/project#12`."""
        return self._run(
            msg, args, lambda m, ref, text: self._link_command(m, ref, text, args)
        )

    def _lead_time(self, at: datetime) -> str:
        """Return a time as the lead reads it: "17:00 Europe/Berlin"."""
        zone = self.incident.settings.calendar.time_zone
        return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"

    def _link_command(self, msg: Message, ref: str, text: str, args: str) -> str:
        if not text.strip() and args.strip().casefold() == ref.casefold():
            raise FollowupError(f"{ref} is the incident itself, not a follow-up.")
        if not text.strip():
            raise FollowupError(
                "Missing issue: use `followup link <issue URL>` or "
                "`followup link group/project#12`. The incident itself is no "
                "follow-up."
            )
        project, iid = self.service._parse_ref(text.strip())
        if not project:
            raise FollowupError(
                f"'{text.strip()}' names no GitLab issue: use its URL or a "
                "reference such as sre/follow-ups#12."
            )
        user = self.incident.person_name(msg.frm)
        linked = self.service.link(ref, project, iid, user, source="linked")
        self._arm(ref)
        if not linked.new:
            return f"{linked.followup.ref} is already a follow-up of {ref}."
        return f"Linked {linked.followup.ref} as a follow-up of {ref}."

    @botcmd
    def followup_owner(self, msg: Message, args: str) -> str:
        """Assign a follow-up to someone on GitLab.
        Usage: `followup owner <ref> @user` (the GitLab username)."""
        return self._run(msg, args, self._owner)

    def _owner(self, msg: Message, ref: str, text: str) -> str:
        target, person = split_first(text)
        if not target or not person.strip():
            raise FollowupError("Missing owner: use `followup owner <ref> @user`.")
        words = person.split()
        if len(words) != 1:
            raise FollowupError(
                f"'{person.strip()}' is not one GitLab username: use "
                "`followup owner <ref> @user` with one username."
            )
        followup = self.service.set_owner(ref, target, words[0].lstrip("@"))
        return f"{followup.ref} is now owned by {followup.owner}."

    @botcmd
    def followup_move(self, msg: Message, args: str) -> str:
        """Move follow-ups to another project.
        Usage: `followup move <ref> [<ref>...] <project>`."""
        return self._run(msg, args, self._move)

    def _move(self, msg: Message, ref: str, text: str) -> str:
        words = text.split()
        if len(words) < 2:
            raise FollowupError(
                "Missing follow-up or project: use `followup move <ref> <project>`."
            )
        outcomes = self.service.move(ref, words[:-1], words[-1])
        return "\n".join(outcome.sentence for outcome in outcomes)

    @botcmd
    def followup_label(self, msg: Message, args: str) -> str:
        """Add labels to a follow-up. Usage: `followup label <ref> <label>, ...`;
        labels are separated by commas and may contain spaces."""
        return self._run(msg, args, self._label)

    def _label(self, msg: Message, ref: str, text: str) -> str:
        target, rest = split_first(text)
        # GitLab writes a label with spaces as ~"team::Platform Core".
        labels = [part.strip().lstrip("~").strip('"') for part in rest.split(",")]
        labels = [label for label in labels if label]
        if not target or not labels:
            raise FollowupError(
                "Missing labels: use `followup label <ref> <label>[, <label>...]`."
            )
        followup = self.service.add_labels(ref, target, labels)
        return f"Added {', '.join(labels)} to {followup.ref}."

    @botcmd
    def followup_reject(self, msg: Message, args: str) -> str:
        """Unlink a follow-up that is not valid. Usage: `followup reject <ref>
        [<reason>]`."""
        return self._run(msg, args, self._reject)

    def _reject(self, msg: Message, ref: str, text: str) -> str:
        target, reason = split_first(text)
        if not target:
            raise FollowupError("Missing follow-up: use `followup reject <ref>`.")
        user = self.incident.person_name(msg.frm)
        followup = self.service.reject(ref, target, reason, user)
        return f"{followup.ref} is no longer a follow-up of {ref}."

    @botcmd
    def followup_corrective(self, msg: Message, args: str) -> str:
        """List a follow-up under the incident's corrective actions.
        Usage: `followup corrective <ref>`."""
        return self._run(msg, args, self._corrective)

    def _corrective(self, msg: Message, ref: str, text: str) -> str:
        if not text.strip():
            raise FollowupError("Missing follow-up: use `followup corrective <ref>`.")
        followup = self.service.mark_corrective(ref, text.strip())
        return f"{followup.ref} is now a corrective action of {ref}."

    # Pasted links

    def callback_message(self, msg: Message) -> None:
        """Link GitLab issues pasted in an incident channel."""
        if not getattr(self, "ready", False) or self.incident.from_bot(msg.frm):
            return
        if msg.body.lstrip().startswith(self.bot_config.BOT_PREFIX):
            return  # A command names its issues itself.
        self._link_pasted(msg, edited=False)

    def callback_message_edit(self, msg: Message) -> None:
        """Link issues an edit added, and ask about those it removed."""
        if not getattr(self, "ready", False) or self.incident.from_bot(msg.frm):
            return
        self._link_pasted(msg, edited=True)

    def _link_pasted(self, msg: Message, *, edited: bool) -> None:
        channel, target = self.incident.chat_channel(msg)
        ref = self.incident.store.bound_ref(channel)
        ts = message_ts(msg)
        if ref is None or ts is None:
            return
        text = str(slack_event(msg).get("text") or msg.body)
        found = find_gitlab_links(text, self.incident.gitlab.url)
        key = f"{channel}/{ts}"
        lines, referenced = self._link_issues(ref, found, key, msg)
        # "#2" in "attempt #2" is no issue; only ask where the message names
        # GitLab objects in full too, which shows it is about issues.
        named_elsewhere = (
            bool(found.issues)
            or any(
                other.kind != NotFollowupKind.NO_PROJECT
                for other in found.not_followups
            )
            or any("/" in other.text for other in found.not_followups)
        )
        if not edited and named_elsewhere:
            for other in found.not_followups:
                if other.kind == NotFollowupKind.NO_PROJECT:
                    lines.append(
                        f"Which project is {other.text} in? Paste the issue's link "
                        "or write it as group/project#number to link it."
                    )
        body = "\n".join(self.incident.out(line) for line in lines)
        if edited:
            questions = self._unreferenced(ref, key, referenced)
            if questions:
                body = "\n".join(part for part in (body, questions) if part)
        if body:
            self._arm(ref)
            self._reply_in_thread(msg, target, body)

    def _link_issues(
        self, ref: str, found: GitLabLinks, key: str, msg: Message
    ) -> tuple[list[str], set[str]]:
        """Link the issues found in one message.

        Returns the reply lines and the references of the follow-ups that the
        message links, new or not.
        """
        user = self.incident.person_name(msg.frm)
        lines: list[str] = []
        referenced: set[str] = set()
        for issue in found.issues:
            try:
                if self.incident.settings.followups.paste == "ask":
                    lines.extend(self._ask(ref, issue.project, issue.iid))
                    continue
                linked = self.service.link(
                    ref, issue.project, issue.iid, user, message=key
                )
            except (MovedOnGitLab, NotAnIssue) as error:
                lines.append(str(error))
                continue
            except FollowupError as error:
                log.info("pasted %s not linked: %s", issue.reference, error)
                continue
            except GitLabError as error:
                lines.append(f"{issue.reference} was not linked: {error}")
                continue
            referenced.add(linked.followup.ref)
            if linked.new:
                lines.append(f"Linked {linked.followup.ref} as a follow-up of {ref}.")
                if linked.note:
                    lines.append(linked.note)
            elif linked.followup.message not in ("", key):
                self._forget_message(ref, linked.followup)
        return lines, referenced

    def _forget_message(self, ref: str, followup: FollowUp) -> None:
        """Untie a follow-up from its first message, since another one links it too.

        The store keeps one message per follow-up. So an edit of either
        message that drops the link sends no question, which would be wrong
        while the other message still links it.
        """
        with self.incident.store.edit(ref) as incident:
            current = self.service.known(incident, followup.project, followup.iid)
            if current is not None:
                current.message = ""

    def _ask(self, ref: str, project: str, iid: int) -> list[str]:
        incident = self.incident.store.require(ref)
        if self.service.known(incident, project, iid) is not None:
            return []
        return [
            f"Link {project}#{iid} as a follow-up of {ref}? "
            f"Run `followup link {project}#{iid}`."
        ]

    def _unreferenced(self, ref: str, key: str, referenced: set[str]) -> str:
        """Ask the lead about follow-ups an edited message no longer links, once.

        Returns the question, escaped for chat with a live mention of the
        lead, or "" when the edit dropped no link.
        """
        dropped: list[str] = []
        with self.incident.store.edit(ref) as incident:
            lead = incident.roles.get("lead", "")
            for followup in incident.followups:
                if followup.message == key and followup.ref not in referenced:
                    # Forgetting the message makes the question come only once.
                    followup.message = ""
                    dropped.append(followup.ref)
        lines = [
            self.incident.out(
                f"{followup_ref} is no longer referenced by that message. "
                f"Unlink it with `followup reject {followup_ref}`?"
            )
            for followup_ref in dropped
        ]
        if lines and lead:
            lines[0] = f"{self._mention('@' + lead)}: {lines[0]}"
        return "\n".join(lines)

    def _reply_in_thread(self, msg: Message, target: str, body: str) -> None:
        """Post text that is escaped for chat already in the thread of msg."""
        try:
            identifier = self.build_identifier(target)
            self.send(identifier, body, in_reply_to=msg)
        except Exception:
            log.exception("could not reply in the thread of a message in %s", target)

    # Resolve and reminders

    def _resolved(self, ref: str) -> list[str]:
        """Start the review clock, and the incident review for S1 and S2."""
        notes: list[str] = []
        try:
            notes.extend(self.reviews.on_resolved(ref))
        except (GitLabError, FollowupError) as error:
            reason = str(error).rstrip(".")
            notes.append(
                f"The incident review issue could not be created ({reason}); the "
                f"bot tries again every {format_age(REVIEW_ISSUE_RETRY)}."
            )
            self.incident.schedule.set(
                Reminder(
                    f"{REVIEW_ISSUE}/{ref}",
                    REVIEW_ISSUE,
                    ref,
                    self.incident.clock() + REVIEW_ISSUE_RETRY,
                )
            )
        notice = self.reviews.manager_notice(ref)
        if notice is not None:
            self._tell_manager(ref, notice)
        self._arm(ref)
        return notes

    def _retry_review_issue(self, reminder: Reminder, now: datetime) -> datetime | None:
        """Try again to create a review issue that failed at resolve time."""
        incident = self.incident.store.get(reminder.ref)
        if incident is None or incident.review_issue:
            return None
        try:
            lines = self.reviews.on_resolved(reminder.ref)
        except (GitLabError, FollowupError) as error:
            log.warning("review issue of %s failed again: %s", reminder.ref, error)
            return now + REVIEW_ISSUE_RETRY
        if lines:
            self._post(incident.chat_target, "\n".join(lines))
        return None

    def _tell_manager(self, ref: str, notice: ManagerNotice) -> None:
        """Post the manager's notice in the incident channel with a live mention.

        It is a message of its own, because the Incident plugin escapes the
        resolve reply, which would turn the mention into plain text.
        """
        incident = self.incident.store.require(ref)
        text = f"{self._mention(notice.handle)}: {self.incident.out(notice.sentence)}"
        if not self._post(incident.chat_target, text, escape=False):
            log.error(
                "could not tell %s about the review of %s", notice.handle, incident.ref
            )

    def _mention(self, handle: str) -> str:
        return str(self.incident.mention(handle))

    def _arm(self, ref: str) -> None:
        """Set the review reminder to the earliest due follow-up, if any."""
        incident = self.incident.store.get(ref)
        if incident is None:
            return
        due = next_due(incident, self.service)
        key = f"{REVIEW_REMINDER}/{ref}"
        if due is None:
            self.incident.schedule.cancel(key)
            return
        self.incident.schedule.set(Reminder(key, REVIEW_REMINDER, ref, due))

    def _remind(self, reminder: Reminder, now: datetime) -> datetime | None:
        """Remind the lead of due follow-ups that lack something, then the IMOC."""
        ref = reminder.ref
        incident = self.incident.store.get(ref)
        if incident is None:
            return None
        calendar = self.incident.settings.calendar
        if incident.resolved_at is None and not self._closed_on_gitlab(ref):
            # Reviews are due only after the incident, so look again at the
            # end of the next business day.
            return review_deadline(now, calendar) if incident.followups else None
        items = self.service.review(ref)
        lead_lines: list[str] = []
        imoc_lines: list[str] = []
        with self.incident.store.edit(ref) as stored:
            for item in items:
                if item.due is None or item.due > now or not item.lacks:
                    continue
                current = self.service.known(
                    stored, item.followup.project, item.followup.iid
                )
                if current is None:
                    continue
                line = f"{current.ref}: lacks {', '.join(item.lacks)}"
                if not current.lead_reminded:
                    current.lead_reminded = True
                    lead_lines.append(line)
                elif not current.imoc_reminded and (
                    now >= review_deadline(item.due, calendar)
                ):
                    current.imoc_reminded = True
                    imoc_lines.append(line)
        if lead_lines:
            self._tell_role(stored, "lead", "The follow-up review is due", lead_lines)
        if imoc_lines:
            self._tell_role(
                stored, "imoc", "The follow-up review is overdue", imoc_lines
            )
        return next_due(self.incident.store.require(ref), self.service, now)

    def _closed_on_gitlab(self, ref: str) -> bool:
        """Tell whether someone closed the incident issue on GitLab.

        The Incident plugin then counts the incident as resolved from now.
        """
        try:
            return bool(self.incident.incidents.closed_outside(ref))
        except GitLabError as error:
            log.warning("could not check whether %s is closed: %s", ref, error)
            return False

    def _tell_role(
        self, incident: Incident, role: str, headline: str, lines: list[str]
    ) -> None:
        person = incident.roles.get(role) or incident.roles.get("lead", "")
        text = self.incident.out(
            f"{headline} for {incident.ref} (`followup review` lists it):\n"
            + "\n".join(lines)
        )
        prefix = f"{self._mention('@' + person)}: " if person else ""
        if self._post(incident.chat_target, prefix + text, escape=False):
            return
        # Slack refuses posts to an archived channel (is_archived), and
        # incident channels are often archived before the review is due.
        if person and self._post(f"@{person}", text, escape=False):
            return
        log.error(
            "could not send the review reminder of %s to %s or to %s",
            incident.ref,
            incident.chat_target,
            person or "a lead (none is set)",
        )

    def _post(self, target: str, text: str, *, escape: bool = True) -> bool:
        return bool(self.incident.post(target, text, escape=escape))

    # Helpers

    def _run(self, msg: Message, args: str, work: Any) -> str:
        def command() -> str:
            if not getattr(self, "ready", False):
                raise FollowupError(self.incident.unavailable)
            ref, text = self._incident_for(msg, self.incident.chat_text(args))
            return str(work(msg, ref, text))

        return str(self.incident.run_command(msg, command))

    def _incident_for(self, msg: Message, text: str) -> tuple[str, str]:
        """Return the incident a follow-up command is about, and the rest of text.

        In an incident channel, a first word that names no known incident is
        left in the text: it is a follow-up such as sre/follow-ups#12, which
        the Incident plugin would reject as an unknown incident reference.
        """
        channel, _ = self.incident.chat_channel(msg)
        bound = self.incident.store.bound_ref(channel)
        first, _ = split_first(text)
        if bound is not None and self.incident.store.get(first) is None:
            return bound, text
        return self.incident.incident_for(msg, text)


def describe(followup: FollowUp) -> str:
    parts = [f"{followup.ref} {followup.title}"]
    if followup.owner:
        parts.append(f"owner {followup.owner}")
    if followup.corrective:
        parts.append("corrective action")
    if followup.state == "closed":
        parts.append("closed")
    return " — ".join(parts) + f"\n   {followup.web_url}"


def next_due(
    incident: Incident, service: FollowupService, after: datetime | None = None
) -> datetime | None:
    """Return the next time a review reminder is needed, or None.

    Before the incident is resolved no review is due, but someone may close
    the incident issue on GitLab, which no command reports. So the time is
    then the earliest that a review could be due, when the reminder checks
    GitLab.
    """
    times: list[datetime] = []
    calendar = service.settings.calendar
    for followup in incident.followups:
        if followup.imoc_reminded:
            continue
        due = service.due(incident, followup)
        if due is None:
            moment = review_deadline(followup.linked_at, calendar)
        elif followup.lead_reminded:
            moment = review_deadline(due, calendar)
        else:
            moment = due
        if after is None or moment > after:
            times.append(moment)
    return min(times) if times else None


def _raise(text: str) -> str:
    raise FollowupError(text)
