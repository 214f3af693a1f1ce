"""Paging people about an incident: PagerDuty services, escalation teams, groups.

Every attempt, failed ones included, is kept on the incident (Incident.pages)
and written to its timeline, so the incident issue shows who was asked for
help and when. A reply reports a page only when PagerDuty confirmed it.
Otherwise the reply states that and how to page by hand, because a page
believed sent but lost leaves an incident without its responders.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incidentbot.escalation_settings import (
    EscalationSettings,
    Group,
    PagedService,
    Team,
)
from incidentbot.incidents import IncidentError, Incidents
from incidentbot.model import Incident, Page
from incidentbot.pagerduty_api import (
    PagerDuty,
    PagerDutyError,
    dedup_key,
    trim_summary,
)
from incidentbot.store import IncidentStore

log = logging.getLogger(__name__)

# Maximum length of a message copied into a timeline entry. The page itself
# carries the whole message.
TIMELINE_MESSAGE_MAX = 300
PAGERDUTY_WEB = "the PagerDuty web app or phone app"


class PagingError(IncidentError):
    """A paging command that cannot run: an unknown target, paging not set up."""


@dataclass(frozen=True)
class PagerDutySetup:
    """The PagerDuty adapter, or why paging is off."""

    client: PagerDuty | None
    # REST calls (escalation teams, on-call lookups, page confirmation) need
    # PAGERDUTY_API_KEY. Events API triggers do not.
    rest: bool
    off_reason: str = ""


class Paging:
    """Pages services and teams for incidents, and records every attempt."""

    def __init__(
        self,
        store: IncidentStore,
        incidents: Incidents,
        setup: PagerDutySetup,
        settings: EscalationSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.incidents = incidents
        self.setup = setup
        self.settings = settings
        self.clock = clock

    # Targets

    def find_service(self, text: str) -> PagedService:
        service = self.settings.service(text)
        if service is None:
            raise PagingError(
                f"Unknown PagerDuty service '{text}': use one of "
                f"{_choices(self.settings.services)}. `pd services` lists them."
            )
        return service

    def find_team(self, text: str) -> Team:
        team = self.settings.team(text)
        if team is None:
            raise PagingError(
                f"Unknown team '{text}': use one of {_choices(self.settings.teams)}. "
                "`incident escalate` lists them."
            )
        return team

    def find_group(self, text: str) -> Group:
        group = self.settings.group(text) if text else None
        if group is None:
            choices = _choices(self.settings.groups)
            raise PagingError(
                f"Unknown group '{text}': use one of {choices}."
                if text
                else f"Name the group to engage: use one of {choices}."
            )
        return group

    # Pages

    def trigger(
        self,
        ref: str,
        service: PagedService,
        message: str,
        user: str,
        *,
        automatic: bool = False,
    ) -> Page:
        """Page a service through the Events API and record the attempt.

        The dedup_key is the same for every trigger of this service for this
        incident. While PagerDuty's alert is open, a trigger is added to it and
        notifies no one new. After it is resolved, the next trigger opens a
        new PagerDuty incident. The Page records which of the two happened:
        the bot sends the trigger first, because a page must not wait for a
        lookup, and then looks up the PagerDuty incident with this key. One
        whose number an earlier page of this incident recorded was already
        open.
        """
        client = self._client()
        incident = self.store.require(ref)
        key = dedup_key(ref, service.key)
        page = Page(
            kind="service",
            target=service.key,
            name=service.name,
            at=self.clock(),
            by=user,
            message=message,
            dedup_key=key,
            automatic=automatic,
        )

        def send() -> Any:
            client.trigger(
                service.routing_key,
                key,
                _summary(incident, message),
                source=f"incident bot, {ref}",
                severity="critical",
                details=_details(incident, user),
                links=[(incident.web_url, f"Incident issue {ref}")],
            )
            return self._open_incident(key)

        return self._send(ref, page, send)

    def escalate(self, ref: str, team: Team, message: str, user: str) -> Page:
        """Open a PagerDuty incident for a team, with the message, and record it.

        While the team's PagerDuty incident is open, PagerDuty rejects a
        second one with the same key, and the Page records it as still open:
        the team is paged once.
        """
        client = self._client()
        if not self.setup.rest:
            raise PagingError(
                f"Escalating to {team.name} opens a PagerDuty incident, which "
                "needs PAGERDUTY_API_KEY and PAGERDUTY_FROM. Set both and "
                "restart the bot, or page the team by hand in PagerDuty."
            )
        incident = self.store.require(ref)
        key = dedup_key(ref, f"team-{team.key}")
        page = Page(
            kind="team",
            target=team.key,
            name=team.name,
            at=self.clock(),
            by=user,
            message=message,
            dedup_key=key,
        )

        def send() -> Any:
            return client.create_incident(
                team.service_id,
                _summary(incident, message),
                key,
                escalation_policy_id=team.escalation_policy_id or None,
                details="\n".join(
                    [message, "", f"Incident issue: {incident.web_url}", f"By: {user}"]
                ),
            )

        return self._send(ref, page, send)

    def record_mention(self, ref: str, page: Page) -> Page:
        """Record a Slack user group mention like a page."""
        return self._record(ref, page)

    # Helpers

    def _client(self) -> PagerDuty:
        if self.setup.client is None:
            raise PagingError(self.setup.off_reason)
        return self.setup.client

    def _send(self, ref: str, page: Page, send: Callable[[], Any]) -> Page:
        """Run send, which calls PagerDuty and returns its incident, and record it.

        Two people paging the same target at once are served one after the
        other, so the second finds the first one's PagerDuty incident.
        """
        with self.store.lock(f"page/{page.dedup_key}"):
            index = self._begin(ref, page)
            try:
                found = send()
            except PagerDutyError as error:
                log.warning("paging %s for %s failed: %s", page.target, ref, error)
                return self._failed(ref, index, page, error)
            self._confirm(ref, page, found)
            return self._finish(ref, index, page)

    def _open_incident(self, key: str) -> Any:
        """Return PagerDuty's open incident for this key, or None.

        Without the REST API, or when the lookup fails, the result is None,
        and the reply states that PagerDuty did not confirm the page.
        """
        if not self.setup.rest or self.setup.client is None:
            return None
        try:
            found = self.setup.client.find_incidents(incident_key=key)
        except PagerDutyError as error:
            log.warning("could not look up PagerDuty incident %r: %s", key, error)
            return None
        return found[0] if found else None

    def _confirm(self, ref: str, page: Page, found: Any) -> None:
        """Set the page's outcome from the PagerDuty incident found for its key.

        NOTE: an open PagerDuty incident with this key that someone opened
        outside the bot counts as opened by this page.
        """
        if found is None:
            page.outcome = "sent"
            return
        stored = self.store.require(ref)
        earlier = {
            item.pagerduty_number
            for item in stored.pages
            if item.dedup_key == page.dedup_key and item.pagerduty_number
        }
        if found.number in earlier:
            page.outcome = "still_open" if page.kind == "team" else "added"
        else:
            page.outcome = "opened"
        page.pagerduty_number = found.number
        page.pagerduty_url = found.html_url

    def _failed(self, ref: str, index: int, page: Page, error: PagerDutyError) -> Page:
        """Record a failed page, unless PagerDuty shows it went through anyway.

        A request that timed out or got a 5xx may still have reached
        PagerDuty, and a team escalation is rejected with a 400 while the
        team's incident is open. A lookup separates these from a page that
        reached no one.
        """
        maybe_sent = error.status is None or error.status >= 500
        duplicate = page.kind == "team" and error.status == 400
        found = self._open_incident(page.dedup_key) if maybe_sent or duplicate else None
        if found is not None:
            self._confirm(ref, page, found)
            if duplicate and page.outcome == "opened":
                # PagerDuty refused this request because its incident was
                # already open, so this escalation opened nothing.
                page.outcome = "still_open"
            return self._finish(ref, index, page)
        if duplicate and "dedup key already exists" in error.message.lower():
            # PagerDuty's own words for an open incident with this key, which
            # the lookup could not show: the team is paged already.
            page.outcome = "still_open"
            return self._finish(ref, index, page)
        page.outcome = "failed"
        page.error = str(error)
        return self._finish(ref, index, page)

    def _begin(self, ref: str, page: Page) -> int:
        """Keep the page as pending before it is sent, and return its position.

        A restart while PagerDuty is being called then leaves a pending page
        on the incident, which the handover brief shows, instead of no trace.
        """
        page.outcome = "pending"
        with self.store.edit(ref) as incident:
            incident.pages.append(copy.copy(page))
            return len(incident.pages) - 1

    def _finish(self, ref: str, index: int, page: Page) -> Page:
        """Store the page's outcome and write it to the timeline.

        The page already happened, so a GitLab failure here is logged and
        the page is still kept and reported.
        """
        with self.store.edit(ref) as incident:
            incident.pages[index] = page
        self._add_to_timeline(ref, page)
        return page

    def _record(self, ref: str, page: Page) -> Page:
        """Keep a finished page (a group mention) and write it to the timeline."""
        with self.store.edit(ref) as incident:
            incident.pages.append(page)
        self._add_to_timeline(ref, page)
        return page

    def _add_to_timeline(self, ref: str, page: Page) -> None:
        try:
            self.incidents.add_timeline(
                ref, page.at, timeline_text(page), page.by, kind="page"
            )
        except Exception:
            log.exception("could not write the page of %s to the timeline", ref)


def page_reply(ref: str, page: Page) -> str:
    """Return the chat sentence for a page: what PagerDuty confirmed, nothing more."""
    number = (
        f"PagerDuty incident #{page.pagerduty_number}"
        if page.pagerduty_number is not None
        else "its PagerDuty incident"
    )
    link = f" {page.pagerduty_url}" if page.pagerduty_url else ""
    if page.outcome == "failed":
        how = (
            f"open an incident on the service of {page.name}"
            if page.kind == "team"
            else f"trigger an incident on {page.name}"
        )
        return (
            f"Paging {page.name} for {ref} failed, so assume nobody has been "
            f"notified. {page.error} By hand: in {PAGERDUTY_WEB}, {how}, then "
            "say in this channel that you did."
        )
    if page.outcome == "still_open":
        return (
            f"{page.name} is already paged for {ref}: {number} is still open, so "
            "the bot sent nothing new. Add your message to it in PagerDuty, or "
            f"escalate again once it is resolved.{link}"
        )
    if page.outcome == "added":
        return (
            f"{page.name} is already paged for {ref}: {number} is still open, "
            "so PagerDuty added this to it and nobody new was notified."
            f"{link}"
        )
    if page.outcome == "opened":
        verb = "Escalated to" if page.kind == "team" else "Paged"
        return f"{verb} {page.name} for {ref}: {number} is open.{link}"
    return (
        f"Sent the page to {page.name} for {ref}, and PagerDuty accepted it "
        f"(dedup key {page.dedup_key}). The bot could not look up which PagerDuty "
        "incident it opened: if an alert with that key was still open, "
        "PagerDuty added this to it instead of notifying anyone again."
    )


def timeline_text(page: Page) -> str:
    """Return the timeline line for a page or a group mention."""
    number = (
        f" (PagerDuty incident #{page.pagerduty_number})"
        if (page.pagerduty_number is not None)
        else ""
    )
    what = {
        "opened": f"Paged {page.name}{number}",
        "sent": f"Sent a page to {page.name}",
        "added": f"{page.name} was already paged{number}; the alert got the new "
        "trigger",
        "still_open": f"Escalation to {page.name} not sent again, because the "
        f"team's PagerDuty incident is still open{number}",
        "failed": f"Paging {page.name} failed: nobody was reached through PagerDuty",
        "mentioned": f"Engaged {page.name}",
    }[page.outcome]
    if page.kind == "team" and page.outcome == "opened":
        what = f"Escalated to {page.name}{number}"
    if page.automatic:
        what += " automatically"
    message = trim_summary(" ".join(page.message.split()), TIMELINE_MESSAGE_MAX)
    return f"{what}: {message}" if message else what


def _summary(incident: Incident, message: str) -> str:
    """Return the alert's summary: the message or the incident's title, and its issue.

    A confidential incident's title stays on GitLab, since PagerDuty sends
    summaries to phones and e-mail.
    """
    # Line breaks stay, so a pasted log keeps its lines in the alert details.
    text = message.strip()
    if not text:
        if incident.confidential:
            text = f"Confidential {incident.severity} incident needs you"
        else:
            text = f"{incident.severity} incident: {incident.title}"
    return f"[{incident.ref}] {text}"


def _details(incident: Incident, user: str) -> dict[str, str]:
    return {
        "incident": incident.ref,
        "incident_url": incident.web_url,
        "severity": incident.severity,
        "paged_by": user,
    }


def _choices(table: Mapping[str, object]) -> str:
    if not table:
        return "none (the settings define none yet)"
    return ", ".join(
        f"{key} ({getattr(entry, 'name', key)})" for key, entry in table.items()
    )
