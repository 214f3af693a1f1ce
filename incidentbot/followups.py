"""Follow-ups of an incident: GitLab issues linked to it as work to do after it.

A follow-up is linked to the incident issue (`relates_to`), carries a note
with the incident's context, and is listed in the incident's description.
Corrective actions get a section of their own. Each change is made on GitLab
first and stored only when GitLab accepted it, so a failure loses nothing
that was acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from incidentbot.business_days import review_deadline
from incidentbot.gitlab_api import GitLab, GitLabError, Issue
from incidentbot.gitlab_followups import FollowUpIssues, MoveRefusal, MoveRefused
from incidentbot.gitlab_links import find_gitlab_links
from incidentbot.gitlab_text import defuse_mentions, inert
from incidentbot.incidents import IncidentError, Incidents
from incidentbot.model import FollowUp, Incident
from incidentbot.settings import Settings
from incidentbot.store import IncidentStore
from incidentbot.times import format_utc

log = logging.getLogger(__name__)

# Issue types that can be follow-ups. A /-/work_items/ link can also name a
# task or an epic, which are not.
FOLLOWUP_TYPES = ("issue",)


class FollowupError(IncidentError):
    """A follow-up command that cannot be carried out, with the reason."""


class NotAnIssue(FollowupError):
    """A pasted GitLab item that is an incident, a task or another non-issue."""


class MovedOnGitLab(FollowupError):
    """A pasted issue that was moved on GitLab; its new location is unknown."""


@dataclass
class Linked:
    """The outcome of linking one issue: the follow-up, and whether it is new."""

    followup: FollowUp
    new: bool
    # A sentence about a part that failed, "" when everything worked.
    note: str = ""


@dataclass
class Moved:
    """The outcome of moving one follow-up, as a sentence for chat."""

    ref: str
    moved: bool
    sentence: str


@dataclass
class ReviewItem:
    """A follow-up with what it still lacks and when its review is due."""

    followup: FollowUp
    lacks: list[str] = field(default_factory=list)
    due: datetime | None = None


class Followups:
    """Link, change and review the follow-ups of incidents."""

    def __init__(
        self,
        store: IncidentStore,
        gitlab: GitLab,
        incidents: Incidents,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.gitlab = gitlab
        self.issues = FollowUpIssues(gitlab)
        self.incidents = incidents
        self.settings = settings
        self.clock = clock

    # Finding follow-ups

    def known(self, incident: Incident, project: str, iid: int) -> FollowUp | None:
        """Return the follow-up that is, or was before a move, project#iid."""
        wanted = f"{project}#{iid}".casefold()
        for followup in incident.followups:
            if followup.ref.casefold() == wanted:
                return followup
            if any(old.casefold() == wanted for old in followup.moved_from):
                return followup
        return None

    def find(self, incident: Incident, text: str) -> FollowUp:
        """Return the follow-up that text names: list number, project#iid or URL.

        Raises FollowupError naming the text and how to list the follow-ups.
        """
        word = text.strip().strip("<>").lstrip("~")
        if word.isdigit():
            number = int(word)
            if 1 <= number <= len(incident.followups):
                return incident.followups[number - 1]
            raise FollowupError(
                f"{incident.ref} has no follow-up number {number}; "
                "`followup list` shows the numbers."
            )
        project, iid = self._parse_ref(word)
        if project:
            found = self.known(incident, project, iid)
            if found is not None:
                return found
        raise FollowupError(
            f"'{text.strip()}' is not a follow-up of {incident.ref}: use a number "
            "from `followup list`, a reference such as sre/follow-ups#12, or the "
            "issue's URL."
        )

    def _parse_ref(self, word: str) -> tuple[str, int]:
        if "#" in word and "/" in word and not word.startswith("http"):
            project, _, number = word.rpartition("#")
            if number.isdigit() and project:
                return project, int(number)
            return "", 0
        links = find_gitlab_links(f"<{word}>", self.gitlab.url)
        if links.issues:
            return links.issues[0].project, links.issues[0].iid
        return "", 0

    # Linking

    def link(
        self,
        ref: str,
        project: str,
        iid: int,
        user: str,
        *,
        message: str = "",
        message_url: str = "",
        source: str = "pasted",
    ) -> Linked:
        """Link issue project#iid to the incident as a follow-up, once.

        A follow-up linked before (also under its reference from before a
        move) is returned with new False. Raises FollowupError when the
        issue was rejected before, is the incident itself, or is no issue.
        """
        incident = self.store.require(ref)
        existing = self.known(incident, project, iid)
        if existing is not None:
            return Linked(existing, new=False)
        wanted = f"{project}#{iid}"
        reason = _rejected(incident, wanted)
        if reason is not None and source == "linked":
            # Linking by hand overrides an earlier rejection.
            with self.store.edit(ref) as stored:
                for rejected in list(stored.rejected_followups):
                    if rejected.casefold() == wanted.casefold():
                        del stored.rejected_followups[rejected]
            reason = None
        if reason is not None:
            raise FollowupError(
                f"{wanted} was rejected as a follow-up of {ref} ({reason}), so it "
                "was not linked again."
            )
        if project.casefold() == incident.project.casefold() and iid == incident.iid:
            raise FollowupError(f"{wanted} is the incident itself, not a follow-up.")
        # The type decides for every link, not only /-/work_items/ ones: an
        # incident or a task pasted as /-/issues/N is no follow-up either.
        issue = self.gitlab.get_issue(project, iid)
        # A moved issue that someone reopened is live again, and a follow-up.
        if issue.moved_to_id is not None and issue.state == "closed":
            raise MovedOnGitLab(
                f"{issue.ref} was moved on GitLab, so it is closed: paste the link "
                "of the issue it was moved to."
            )
        if issue.issue_type not in FOLLOWUP_TYPES:
            kind = issue.issue_type.replace("_", " ")
            article = "an" if kind[:1] in "aeiou" else "a"
            raise NotAnIssue(
                f"{issue.ref} is {article} {kind}, not an issue, so it is not "
                "linked as a follow-up."
            )
        return self._link_issue(
            ref, issue, user, message=message, message_url=message_url, source=source
        )

    def _link_issue(
        self,
        ref: str,
        issue: Issue,
        user: str,
        *,
        message: str,
        message_url: str,
        source: str,
    ) -> Linked:
        with self.store.edit(ref) as incident:
            existing = self.known(incident, issue.project_path, issue.iid)
            if existing is not None:
                return Linked(existing, new=False)
            link = self.issues.link_issues(
                incident.project, incident.iid, issue.project_path, issue.iid
            )
            now = self.clock()
            followup = FollowUp(
                project=issue.project_path,
                iid=issue.iid,
                web_url=issue.web_url,
                title=issue.title,
                linked_by=user,
                linked_at=now,
                source=source,
                message=message,
                link_id=link.id,
                owner=issue.assignees[0] if issue.assignees else "",
                state=issue.state,
            )
            incident.followups.append(followup)
            _write_lists(incident)
            note = ""
            try:
                self.incidents.write_sections(incident)
            except GitLabError as error:
                # GitLab has the link, so the follow-up is kept; the next
                # change rewrites the description.
                log.warning("description of %s not updated: %s", ref, error)
                note = (
                    f"The incident description was not updated ({error}); the "
                    "next follow-up change updates it."
                )
        self._add_context(ref, followup, message_url)
        return Linked(self._current(ref, followup), new=True, note=note)

    def _add_context(self, ref: str, followup: FollowUp, message_url: str) -> None:
        """Write the incident's context onto the follow-up issue as a note.

        A failure is logged and shows in `followup review` as missing context.
        """
        incident = self.store.require(ref)
        body = context_note(incident, followup, message_url)
        try:
            self.gitlab.add_note(followup.project, followup.iid, body)
        except GitLabError as error:
            log.warning("context note on %s failed: %s", followup.ref, error)
            return
        with self.store.edit(ref) as stored:
            current = self.known(stored, followup.project, followup.iid)
            if current is not None:
                current.has_context = True

    def _current(self, ref: str, followup: FollowUp) -> FollowUp:
        incident = self.store.require(ref)
        return self.known(incident, followup.project, followup.iid) or followup

    def add(self, ref: str, title: str, user: str, message_url: str = "") -> FollowUp:
        """Create an issue in the follow-up project and link it."""
        title = " ".join(title.split())
        if not title:
            raise FollowupError("The title is empty: use `followup add <title>`.")
        incident = self.store.require(ref)
        description = added_description(incident, user, self.clock(), message_url)
        issue = self.issues.create_issue_once(
            self.settings.followup_project,
            title,
            description,
            self.clock(),
            confidential=incident.confidential,
        )
        linked = self._link_issue(
            ref, issue, user, message="", message_url="", source="added"
        )
        # The description already contains the context.
        with self.store.edit(ref) as stored:
            current = self.known(stored, issue.project_path, issue.iid)
            if current is not None:
                current.has_context = True
        return self._current(ref, linked.followup)

    # Changes

    def set_owner(self, ref: str, text: str, username: str) -> FollowUp:
        incident = self.store.require(ref)
        followup = self.find(incident, text)
        try:
            issue = self.issues.set_assignee(followup.project, followup.iid, username)
        except ValueError as error:
            raise FollowupError(str(error)) from error
        with self.store.edit(ref) as stored:
            current = self._require(stored, followup)
            current.owner = issue.assignees[0] if issue.assignees else username
            _write_lists(stored)
            self.incidents.write_sections(stored)
        return current

    def add_labels(self, ref: str, text: str, labels: Sequence[str]) -> FollowUp:
        incident = self.store.require(ref)
        followup = self.find(incident, text)
        try:
            self.issues.add_labels(followup.project, followup.iid, labels)
        except ValueError as error:
            raise FollowupError(str(error)) from error
        with self.store.edit(ref) as stored:
            current = self._require(stored, followup)
            for label in labels:
                if label not in current.labels_added:
                    current.labels_added.append(label)
        return current

    def mark_corrective(self, ref: str, text: str) -> FollowUp:
        incident = self.store.require(ref)
        followup = self.find(incident, text)
        with self.store.edit(ref) as stored:
            current = self._require(stored, followup)
            current.corrective = True
            _write_lists(stored)
            self.incidents.write_sections(stored)
        return current

    def reject(self, ref: str, text: str, reason: str, user: str) -> FollowUp:
        """Unlink a follow-up that is not valid, and remember not to link it again."""
        incident = self.store.require(ref)
        followup = self.find(incident, text)
        if followup.link_id is not None:
            self.issues.unlink(incident.project, incident.iid, followup.link_id)
        with self.store.edit(ref) as stored:
            current = self._require(stored, followup)
            stored.followups.remove(current)
            why = reason.strip() or f"rejected by {user}"
            stored.rejected_followups[current.ref] = why
            for old in current.moved_from:
                stored.rejected_followups[old] = why
            _write_lists(stored)
            self.incidents.write_sections(stored)
        return current

    def move(self, ref: str, texts: Sequence[str], target: str) -> list[Moved]:
        """Move follow-ups to another project, each on its own.

        One failure does not stop the others. Labels GitLab dropped are put
        back where the target project has them, and reported otherwise.
        """
        incident = self.store.require(ref)
        target = self._project_of(target)
        followups: list[FollowUp] = []
        for text in texts:
            found = self.find(incident, text)
            if all(found.ref != other.ref for other in followups):
                followups.append(found)
        outcomes: list[Moved] = []
        for followup in followups:
            try:
                outcomes.append(self._move_one(ref, followup, target))
            except MoveRefused as error:
                outcomes.append(Moved(followup.ref, False, _refusal(followup, error)))
            except (GitLabError, FollowupError) as error:
                outcomes.append(Moved(followup.ref, False, f"{followup.ref}: {error}"))
        return outcomes

    def _project_of(self, target: str) -> str:
        """Return a project path given as a path, an id or a project URL."""
        base = self.gitlab.url.rstrip("/")
        for scheme in ("https://", "http://"):
            plain = base.split("://", 1)[-1]
            if target.startswith(scheme + plain + "/"):
                return target[len(scheme + plain) + 1 :].strip("/")
        if target.startswith(("http://", "https://")):
            raise FollowupError(
                f"'{target}' is not a project of the bot's GitLab ({base}): use a "
                "project path such as group/project."
            )
        return target.strip("/")

    def _move_one(self, ref: str, followup: FollowUp, target: str) -> Moved:
        result = self.issues.move_issue(followup.project, followup.iid, target)
        issue = result.issue
        # The issue has moved on GitLab, so the store follows it before any
        # later step can fail.
        with self.store.edit(ref) as stored:
            current = self._require(stored, followup)
            if current.ref != issue.ref:
                current.moved_from.append(current.ref)
            current.project = issue.project_path
            current.iid = issue.iid
            current.web_url = issue.web_url
            current.state = issue.state
            _write_lists(stored)
        if result.already_there:
            sentence = f"{followup.ref} is already in {issue.project_path}: {issue.ref}"
        else:
            sentence = f"{followup.ref} moved to {issue.ref}"
        if issue.state == "closed":
            sentence += " (still closed)"
        if result.dropped_labels:
            sentence += self._put_labels_back(issue, result.dropped_labels)
        try:
            with self.store.edit(ref) as stored:
                self.incidents.write_sections(stored)
        except GitLabError as error:
            log.warning("updating the description of %s failed: %s", ref, error)
            sentence += (
                f"; updating the description of {ref} failed ({error}), so it "
                "lists the old reference until the next change"
            )
        return Moved(followup.ref, True, sentence + ".")

    def _put_labels_back(self, issue: Issue, dropped: Sequence[str]) -> str:
        """Add the dropped labels that the issue's new project has.

        Returns the text that ends the move's chat sentence: "" or clauses
        that each start with "; " and name the labels put back or lost.
        """
        try:
            known = self.gitlab.label_names(issue.project_path)
            kept = [name for name in dropped if name in known]
            lost = [name for name in dropped if name not in known]
            if kept:
                self.issues.add_labels(issue.project_path, issue.iid, kept)
        except (GitLabError, ValueError) as error:
            log.warning(
                "putting labels %s back on %s failed: %s", dropped, issue.ref, error
            )
            return f"; putting back the labels {', '.join(dropped)} failed ({error})"
        sentence = ""
        if kept:
            sentence += f"; labels put back: {', '.join(kept)}"
        if lost:
            sentence += (
                f"; GitLab dropped {', '.join(lost)}, which {issue.project_path} "
                "does not have"
            )
        return sentence

    # Review

    def review(self, ref: str) -> list[ReviewItem]:
        """Return each follow-up with what it lacks, read fresh from GitLab."""
        incident = self.store.require(ref)
        items: list[ReviewItem] = []
        for number, followup in enumerate(incident.followups, 1):
            try:
                issue = self.gitlab.get_issue(followup.project, followup.iid)
            except GitLabError as error:
                # One deleted or hidden issue must not hide the others.
                missing = [
                    f"a readable issue on GitLab ({error}); if it was deleted, "
                    f"remove it with `followup reject {number}`"
                ]
            else:
                missing = lacks(followup, issue, self.settings)
            items.append(ReviewItem(followup, missing, self.due(incident, followup)))
        return items

    def due(self, incident: Incident, followup: FollowUp) -> datetime | None:
        """Return when a follow-up's review is due, or None before resolution."""
        if incident.resolved_at is None:
            return None
        start = max(incident.resolved_at, followup.linked_at)
        return review_deadline(start, self.settings.calendar)

    @staticmethod
    def _require(incident: Incident, followup: FollowUp) -> FollowUp:
        for current in incident.followups:
            if current.project == followup.project and current.iid == followup.iid:
                return current
        raise FollowupError(
            f"{followup.ref} is no longer a follow-up of {incident.ref}: "
            "`followup list` shows the current ones."
        )


def lacks(followup: FollowUp, issue: Issue, settings: Settings) -> list[str]:
    """Return what a follow-up still needs before its review is done."""
    missing: list[str] = []
    if not followup.has_context:
        missing.append("context from the incident")
    if issue.project_path.casefold() == settings.followup_project.casefold():
        missing.append(
            f"a project: it is still in the triage project {settings.followup_project}"
        )
    prefixes = settings.followups.owner_label_prefixes
    if prefixes and not any(
        label.startswith(prefix) for label in issue.labels for prefix in prefixes
    ):
        missing.append(f"a team or group label ({', '.join(prefixes)}…)")
    if not issue.assignees and not followup.owner:
        missing.append("an owner")
    return missing


def context_note(incident: Incident, followup: FollowUp, message_url: str) -> str:
    """Return the note that names the incident a follow-up belongs to."""
    if incident.confidential:
        # The follow-up may be public, so a confidential title stays out.
        headline = f"Follow-up of incident {incident.ref} (confidential)"
    else:
        title = defuse_mentions(incident.title)
        headline = (
            f"Follow-up of incident {incident.ref}: [{title}]({incident.web_url})"
        )
    lines = [
        headline,
        "",
        f"Linked by {followup.linked_by} on {format_utc(followup.linked_at)}.",
    ]
    if message_url:
        lines.append(f"Chat message: {message_url}")
    return inert("\n".join(lines))


def added_description(
    incident: Incident, user: str, at: datetime, message_url: str
) -> str:
    """Return the description of an issue that `followup add` creates."""
    title = "" if incident.confidential else f": {incident.title}"
    lines = [
        f"Follow-up of incident {incident.ref}{title}",
        f"{incident.web_url}",
        "",
        f"Asked for by {user} on {format_utc(at)}.",
    ]
    if message_url:
        lines.append(f"Chat message: {message_url}")
    return "\n".join(lines)


def _write_lists(incident: Incident) -> None:
    """Rebuild the description's follow-up and corrective-action lines."""
    incident.follow_ups = [_line(followup) for followup in incident.followups]
    incident.corrective_actions = [
        _line(followup) for followup in incident.followups if followup.corrective
    ]


def _line(followup: FollowUp) -> str:
    owner = f" (owner: {followup.owner})" if followup.owner else ""
    # A title is people's text: inert() keeps it from opening an HTML comment
    # (which could fake the bot's section markers) or mentioning anyone.
    title = inert(followup.title.replace("[", "(").replace("]", ")"))
    return f"[{followup.ref}]({followup.web_url}) {title}{owner}"


def _rejected(incident: Incident, ref: str) -> str | None:
    for rejected, reason in incident.rejected_followups.items():
        if rejected.casefold() == ref.casefold():
            return reason
    return None


def _refusal(followup: FollowUp, error: MoveRefused) -> str:
    if error.reason == MoveRefusal.MOVED_BEFORE:
        return (
            f"{followup.ref}: GitLab will not move an issue that was moved before; "
            "open it and use the issue it was moved to."
        )
    if error.reason == MoveRefusal.CLOSED:
        return f"{followup.ref}: closed, GitLab would not move it."
    return f"{followup.ref}: {error}"
