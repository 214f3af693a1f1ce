"""Errbot plugin: GitLab issues pasted in an incident channel become follow-ups.

The plugin links them to the incident issue, changes them on request (owner,
project, labels, corrective action, rejection), lists what each still lacks,
and reminds the lead, then the IMOC, when the review is due. It uses the
Incident plugin's store, GitLab adapter and scheduler.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from errbot import BotPlugin, botcmd
from errbot.backends.base import Message

from incidentbot.args import split_first
from incidentbot.business_days import review_deadline
from incidentbot.chat_events import message_ts, slack_event
from incidentbot.followups import FollowupError
from incidentbot.followups import Followups as FollowupService
from incidentbot.gitlab_api import GitLabError
from incidentbot.gitlab_links import NotFollowupKind, find_gitlab_links
from incidentbot.incident_review import IncidentReviews
from incidentbot.model import FollowUp, Incident
from incidentbot.schedule import Reminder
from incidentbot.times import format_utc

log = logging.getLogger(__name__)

REVIEW_REMINDER = "followup_review"
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
            self.incident.clock,
        )
        self.reviews = IncidentReviews(
            self.incident.store,
            self.incident.gitlab,
            self.incident.settings,
            self.incident.clock,
        )
        self.incident.schedule.on(REVIEW_REMINDER, self._remind)
        self.incident.resolve_listeners.append(self._resolved)

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
                f"due {format_utc(item.due)}"
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
        return self._run(msg, args, self._link_command)

    def _link_command(self, msg: Message, ref: str, text: str) -> str:
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
        followup = self.service.set_owner(ref, target, person.strip().lstrip("@"))
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
        labels = [part.strip().lstrip("~") for part in rest.split(",")]
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
            except FollowupError as error:
                log.info("pasted %s not linked: %s", issue.reference, error)
                continue
            except GitLabError as error:
                lines.append(f"{issue.reference} was not linked: {error}")
                continue
            referenced.add(linked.followup.ref)
            if linked.new:
                lines.append(f"Linked {linked.followup.ref} as a follow-up of {ref}.")
        if not edited:
            for other in found.not_followups:
                if other.kind == NotFollowupKind.NO_PROJECT:
                    lines.append(
                        f"Which project is {other.text} in? Paste the issue's link "
                        "or write it as group/project#number to link it."
                    )
        if edited:
            lines.extend(self._unreferenced(ref, key, referenced))
        if lines:
            self._arm(ref)
            self._reply_in_thread(msg, target, "\n".join(lines))

    def _ask(self, ref: str, project: str, iid: int) -> list[str]:
        incident = self.incident.store.require(ref)
        if self.service.known(incident, project, iid) is not None:
            return []
        return [
            f"Link {project}#{iid} as a follow-up of {ref}? "
            f"Run `followup link {project}#{iid}`."
        ]

    def _unreferenced(self, ref: str, key: str, referenced: set[str]) -> list[str]:
        """Flag follow-ups that an edited message no longer links, once each."""
        lines: list[str] = []
        with self.incident.store.edit(ref) as incident:
            lead = incident.roles.get("lead", "")
            for followup in incident.followups:
                if followup.message == key and followup.ref not in referenced:
                    # Forgetting the message makes the question come only once.
                    followup.message = ""
                    lines.append(
                        f"{lead + ': ' if lead else ''}{followup.ref} is no longer "
                        "referenced by that message. Unlink it with "
                        f"`followup reject {followup.ref}`?"
                    )
        return lines

    def _reply_in_thread(self, msg: Message, target: str, text: str) -> None:
        try:
            identifier = self.build_identifier(target)
            self.send(identifier, self.incident.out(text), in_reply_to=msg)
        except Exception:
            log.exception("could not reply in the thread of a message in %s", target)

    # Resolve and reminders

    def _resolved(self, ref: str) -> list[str]:
        """Start the review clock, and the incident review for S1 and S2."""
        notes: list[str] = []
        try:
            notes.extend(self.reviews.on_resolved(ref, self._mention))
        except (GitLabError, FollowupError) as error:
            notes.append(f"The incident review issue could not be created: {error}")
        self._arm(ref)
        return notes

    def _mention(self, handle: str) -> str:
        """Return a chat mention of a Slack handle or user id, for pinging."""
        if handle.startswith("@"):
            try:
                identifier = self.build_identifier(handle)
            except Exception:
                return handle
            user_id = getattr(identifier, "userid", None)
            return f"<@{user_id}>" if user_id else handle
        return f"<@{handle}>"

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
        items = self.service.review(ref)
        lead_lines: list[str] = []
        imoc_lines: list[str] = []
        calendar = self.incident.settings.calendar
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

    def _tell_role(
        self, incident: Incident, role: str, headline: str, lines: list[str]
    ) -> None:
        person = incident.roles.get(role) or incident.roles.get("lead", "")
        text = (
            f"{person + ': ' if person else ''}{headline} for {incident.ref} "
            f"(`followup review` lists it):\n" + "\n".join(lines)
        )
        if self._post(incident.chat_target, text):
            return
        # The channel may be archived after the incident; the person still
        # needs the reminder.
        if person and self._post(f"@{person}", text):
            return
        log.error("review reminder for %s reached nobody", incident.ref)

    def _post(self, target: str, text: str) -> bool:
        if not target:
            return False
        try:
            sent = self.send(self.build_identifier(target), self.incident.out(text))
        except Exception:
            log.exception("could not post the review reminder to %s", target)
            return False
        if sent is not None and "ts" in getattr(sent, "extras", {}):
            return bool(sent.extras["ts"])
        return True

    # Helpers

    def _run(self, msg: Message, args: str, work: Any) -> str:
        def command() -> str:
            if not getattr(self, "ready", False):
                raise FollowupError(self.incident.unavailable)
            ref, text = self.incident.incident_for(msg, self.incident.chat_text(args))
            return str(work(msg, ref, text))

        return str(self.incident.run_command(msg, command))


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
    """Return the next time a review reminder is needed, or None."""
    times: list[datetime] = []
    calendar = service.settings.calendar
    for followup in incident.followups:
        due = service.due(incident, followup)
        if due is None or followup.imoc_reminded:
            continue
        moment = due if not followup.lead_reminded else review_deadline(due, calendar)
        if after is None or moment > after:
            times.append(moment)
    return min(times) if times else None


def _raise(text: str) -> str:
    raise FollowupError(text)
