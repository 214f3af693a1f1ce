"""The incident review issue that resolving a severe incident starts.

For the severities the settings name (S1 and S2 by default), resolving the
incident creates an issue in the review project from a template: summary,
impact, timeline, follow-ups and corrective actions. It is linked to the
incident and labelled for review. The engineering manager of the team that
owns the root cause gets a message that a feature change lock may be needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from incidentbot.gitlab_api import GitLab, GitLabError
from incidentbot.gitlab_followups import FollowUpIssues
from incidentbot.model import Incident
from incidentbot.settings import Settings
from incidentbot.store import IncidentStore
from incidentbot.times import format_utc

log = logging.getLogger(__name__)


class IncidentReviews:
    """Create the review issue of a resolved incident, once."""

    def __init__(
        self,
        store: IncidentStore,
        gitlab: GitLab,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.gitlab = gitlab
        self.issues = FollowUpIssues(gitlab)
        self.settings = settings
        self.clock = clock

    def required(self, incident: Incident) -> bool:
        return incident.severity in self.settings.followups.review_severities

    def on_resolved(self, ref: str) -> list[str]:
        """Start the review of a resolved incident and return sentences for chat.

        Raises GitLabError when the review issue could not be created. Running
        it again later creates it then.
        """
        incident = self.store.require(ref)
        if not self.required(incident):
            return []
        if incident.review_issue:
            return [f"Incident review: {incident.review_issue}"]
        project = self.settings.review_project
        label = self.settings.followups.review_label
        title = f"Incident review: {incident.ref}"
        if not incident.confidential:
            title += f" {incident.title}"
        # A confidential incident's review contains its details, so it is
        # confidential too.
        issue = self.issues.create_issue_once(
            project,
            title,
            review_description(incident),
            self.clock(),
            [label],
            confidential=incident.confidential,
        )
        # Stored before linking, so that a failed link never leads to a
        # second review issue when this runs again.
        with self.store.edit(ref) as stored:
            stored.review_issue = issue.web_url
        try:
            self.issues.link_issues(
                incident.project, incident.iid, issue.project_path, issue.iid
            )
        except GitLabError as error:
            log.warning("linking review %s to %s failed: %s", issue.ref, ref, error)
            return [
                f"Incident review started: {issue.web_url}. Linking it to "
                f"{incident.ref} failed ({error}), so link it on GitLab."
            ]
        return [f"Incident review started: {issue.web_url}"]

    def manager_notice(self, ref: str) -> ManagerNotice | None:
        """Return what to tell the engineering manager of the root-cause team.

        None when the incident needs no review, or when the settings name no
        manager for the team in the incident's team field.
        """
        incident = self.store.require(ref)
        if not self.required(incident):
            return None
        field = self.settings.followups.team_field
        team = incident.fields.get(field, "") if field else ""
        managers = self.settings.followups.engineering_managers
        for name, handle in managers.items():
            if team and name.casefold() == team.casefold():
                return ManagerNotice(
                    handle,
                    f"{incident.ref} ({incident.severity}) had its root cause "
                    f"in {team}. A feature change lock may be needed while the "
                    "corrective actions are done.",
                )
        return None


@dataclass(frozen=True)
class ManagerNotice:
    """A message for the engineering manager of the team that owns a root cause."""

    # Slack handle ("@dana") or user id from [followups.engineering_managers].
    handle: str
    sentence: str


def review_description(incident: Incident) -> str:
    """Return the review issue's description, from the incident's record."""
    summary = incident.summary
    lines = [
        f"Review of incident {incident.ref} ({incident.severity}): {incident.web_url}",
        "",
        "## Summary",
        "",
        summary.get("summary", "_to be written_"),
        "",
        "## Impact",
        "",
        summary.get("impact", "_to be written_"),
        "",
        f"- Customer impact start: {_time(incident.impact_start)}",
        f"- Customer impact end: {_time(incident.impact_end)}",
        "",
        "## Causes",
        "",
        summary.get("causes", "_to be written_"),
        "",
        "## Timeline",
        "",
    ]
    lines += [
        f"- {format_utc(entry.at)} — {entry.text}" for entry in incident.timeline
    ] or ["_none_"]
    lines += ["", "## Follow-ups", ""]
    lines += [f"- {line}" for line in incident.follow_ups] or ["_none_"]
    lines += ["", "## Corrective actions", ""]
    lines += [f"- {line}" for line in incident.corrective_actions] or ["_none_"]
    # The adapter makes the description inert when it creates the issue.
    text = "\n".join(lines)
    if incident.confidential:
        text = text.replace(incident.title, "(confidential)")
    return text


def _time(at: datetime | None) -> str:
    return format_utc(at) if at else "_not set_"
