"""Find the GitLab issues that a Slack message refers to.

People paste issue links into an incident channel, and each issue becomes a
follow-up. A message arrives in Slack's wire format: links as `<url>` or
`<url|label>`, and `&`, `<`, `>` escaped as entities. This module reads that
format and sends no request, so a caller that needs an item's type (a
/-/work_items/ link can be a task) checks it through the GitLab API.

Only the GitLab at the configured URL counts. Merge requests and epics are
returned apart from issues, so the bot can tell people why it did not link them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from incidentbot.slack_text import decode


@dataclass(frozen=True)
class IssueRef:
    """A GitLab issue named in a message."""

    # Full project path, any subgroup depth: "acme/platform/storage/ceph-ops".
    project: str
    iid: int
    # The canonical URL: <GitLab URL>/<project>/-/issues/<iid>.
    url: str
    # True for a /-/work_items/N link, which can also be a task or an epic.
    from_work_item: bool

    @property
    def reference(self) -> str:
        """GitLab's short reference, such as "sre/follow-ups#7"."""
        return f"{self.project}#{self.iid}"

    def is_issue(self, project: str, iid: int) -> bool:
        """Tell whether this is issue `iid` of the project at path `project`.

        Paths are compared without regard to case, as GitLab routes them. A
        numeric project id never matches, since the message has only paths.
        """
        return self.iid == iid and self.project.casefold() == project.casefold()


class NotFollowupKind(StrEnum):
    """The reason a GitLab reference in a message is not linked as a follow-up."""

    MERGE_REQUEST = "merge_request"
    EPIC = "epic"
    # `#12` or `project#12`, which GitLab resolves against a current project,
    # and a chat channel has none.
    NO_PROJECT = "no_project"


@dataclass(frozen=True)
class NotFollowup:
    """A GitLab reference in a message that is not a follow-up issue."""

    # GitLab's short reference: "sre/api!77", "sre&4" or "#12".
    text: str
    kind: NotFollowupKind
    # A phrase for the chat reply, such as "merge request, not an issue".
    reason: str


@dataclass(frozen=True)
class GitLabLinks:
    """The GitLab references of one message, each once, in message order."""

    issues: tuple[IssueRef, ...]
    not_followups: tuple[NotFollowup, ...]


class _Server(NamedTuple):
    """The configured GitLab: where its URLs start and how to compare them."""

    scheme: str
    host: str  # lowercase, without brackets around an IPv6 address
    port: int | None  # None for the scheme's default port
    prefix: str  # path prefix without the trailing slash, or ""

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.prefix}"


_DEFAULT_PORTS = {"http": 80, "https": 443}

# Slack wire text splits into code (a ```block``` or a `span`, whose text
# people do not mean as references) and markup in angle brackets. The markup
# pattern is the one slack_text.decode() uses, so both read a message alike.
_TOKEN = re.compile(
    r"(?P<block>```.*?```)"
    r"|(?P<span>`[^`\n]+`)"
    r"|<(?P<markup>[@#!][^<>]*|[A-Za-z][A-Za-z0-9+.-]*:[^<>]*)>",
    re.DOTALL,
)

# A GitLab path segment starts with a letter, digit or underscore, so GitLab's
# "-" segment (which starts the page part of a URL) never counts as one.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_PROJECT = rf"{_SEGMENT}(?:/{_SEGMENT})+"
_GROUP = rf"{_SEGMENT}(?:/{_SEGMENT})*"
_NUMBER = r"[1-9][0-9]*"
# Sub-pages such as /designs/graph.png or /diffs.
_TAIL = r"(?:/.*)?"

# /-/issues/incident/N is where GitLab shows issues of type incident. The
# legacy /issues/N without /-/ still appears in old bookmarks.
_ISSUE_PATH = re.compile(
    rf"/(?P<project>{_PROJECT})"
    r"(?P<route>/-/issues(?:/incident)?|/-/work_items|/issues)"
    rf"/(?P<iid>{_NUMBER}){_TAIL}"
)
_MERGE_REQUEST_PATH = re.compile(
    rf"/(?P<project>{_PROJECT})/(?:-/)?merge_requests/(?P<iid>{_NUMBER}){_TAIL}"
)
# GitLab reserves the top-level path "groups". It also serves epics as
# /groups/<group>/-/work_items/N, and as of 2024 epics are its only work item
# type at group level.
_EPIC_PATH = re.compile(
    rf"/groups/(?P<group>{_GROUP})/-/(?:epics|work_items)/(?P<iid>{_NUMBER}){_TAIL}"
)

# In plain text: a URL that Slack left unwrapped, or a short reference such as
# group/project#14 (issue), group/project!33 (merge request) or group&4 (epic).
# A reference may sit between Slack's _italic_ underscores, so its path starts
# with a letter or digit here and an underscore may come before or after it.
# A reference right after ~ (Slack's ~strikethrough~) is skipped as crossed out.
_TEXT_PATH = rf"[A-Za-z0-9][A-Za-z0-9_.-]*(?:/{_SEGMENT})*"
_TEXT_ITEM = re.compile(
    r"(?P<url>https?://[^\s<>]+)"
    r"|(?<![A-Za-z0-9/.~&#!@%-])"
    rf"(?P<path>{_TEXT_PATH})?(?P<sigil>[#!&])(?P<number>{_NUMBER})"
    r"(?![A-Za-z0-9])"
)
# Characters that end a sentence rather than a URL typed without brackets.
_URL_TRAILING = ".,;:!?)]}'\"*_~"


def find_gitlab_links(message: str, gitlab_url: str) -> GitLabLinks:
    """Find the GitLab references in one Slack message, in its wire format.

    `gitlab_url` is the configured GitLab address, such as
    https://gitlab.example.com or https://example.com/gitlab. Each issue and
    each other reference is returned once, where it first occurs. Ignored:
    references inside code, link labels (the link counts once), Slack channel
    links, other hosts, pages with no item number (/-/issues/new) and bare
    `!33` or `&4`. Raises ValueError naming `gitlab_url` if it is no http(s)
    URL.
    """
    server = _parse_server(gitlab_url)
    found: list[IssueRef | NotFollowup] = []
    position = 0
    for token in _TOKEN.finditer(message):
        found.extend(_text_items(decode(message[position : token.start()]), server))
        markup = token["markup"]
        if markup is not None and markup[0] not in "@#!":
            target = decode(markup.partition("|")[0])
            found.extend(_url_item(target, server))
        position = token.end()
    found.extend(_text_items(decode(message[position:]), server))
    return _unique(found)


def _parse_server(gitlab_url: str) -> _Server:
    invalid = ValueError(
        f"invalid GitLab URL {gitlab_url!r}: use the address of the GitLab "
        "server, such as https://gitlab.example.com or https://example.com/gitlab"
    )
    parts = urlsplit(gitlab_url.strip())
    try:
        port = parts.port
    except ValueError:
        raise invalid from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise invalid
    return _Server(
        scheme=parts.scheme,
        host=parts.hostname.lower(),
        port=_explicit_port(parts.scheme, port),
        prefix=parts.path.rstrip("/"),
    )


def _text_items(text: str, server: _Server) -> list[IssueRef | NotFollowup]:
    items: list[IssueRef | NotFollowup] = []
    for match in _TEXT_ITEM.finditer(text):
        if match["url"] is not None:
            items.extend(_url_item(match["url"].rstrip(_URL_TRAILING), server))
            continue
        item = _short_reference(
            match["path"] or "", match["sigil"], int(match["number"]), server
        )
        if item is not None:
            items.append(item)
    return items


def _short_reference(
    path: str, sigil: str, number: int, server: _Server
) -> IssueRef | NotFollowup | None:
    if path and not any(character.isalpha() for character in path):
        # "3&4" or "2024#5" is more likely a number than a GitLab path.
        return None
    if sigil == "!":
        return _merge_request(path, number) if path else None
    if sigil == "&":
        return _epic(path, number) if path else None
    if "/" in path:
        return _issue(server, path, number, from_work_item=False)
    return NotFollowup(
        text=f"{path}#{number}",
        kind=NotFollowupKind.NO_PROJECT,
        reason=f"no full project path, so write it as group/project#{number}",
    )


def _url_item(url: str, server: _Server) -> list[IssueRef | NotFollowup]:
    """Return the issue, merge request or epic at `url`, if it is on `server`."""
    parts = urlsplit(url)
    if not _same_server(parts, server):
        return []
    path = unquote(parts.path)
    if server.prefix:
        if not path.startswith(server.prefix + "/"):
            return []
        path = path[len(server.prefix) :]

    epic = _EPIC_PATH.fullmatch(path)
    if epic is not None:
        return [_epic(epic["group"], int(epic["iid"]))]
    issue = _ISSUE_PATH.fullmatch(path)
    if issue is not None:
        from_work_item = issue["route"] == "/-/work_items"
        return [_issue(server, issue["project"], int(issue["iid"]), from_work_item)]
    merge_request = _MERGE_REQUEST_PATH.fullmatch(path)
    if merge_request is not None:
        return [_merge_request(merge_request["project"], int(merge_request["iid"]))]
    return []


def _same_server(parts: SplitResult, server: _Server) -> bool:
    # Slack adds http:// to a link typed without a scheme, so the scheme may
    # differ, and each scheme's default port counts as no port at all.
    if parts.scheme not in _DEFAULT_PORTS:
        return False
    if (parts.hostname or "").lower() != server.host:
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    return _explicit_port(parts.scheme, port) == _explicit_port(
        server.scheme, server.port
    )


def _explicit_port(scheme: str, port: int | None) -> int | None:
    return None if port == _DEFAULT_PORTS[scheme] else port


def _issue(server: _Server, project: str, iid: int, from_work_item: bool) -> IssueRef:
    return IssueRef(
        project=project,
        iid=iid,
        url=f"{server.base_url}/{project}/-/issues/{iid}",
        from_work_item=from_work_item,
    )


def _merge_request(project: str, iid: int) -> NotFollowup:
    return NotFollowup(
        text=f"{project}!{iid}",
        kind=NotFollowupKind.MERGE_REQUEST,
        reason="merge request, not an issue",
    )


def _epic(group: str, iid: int) -> NotFollowup:
    return NotFollowup(
        text=f"{group}&{iid}", kind=NotFollowupKind.EPIC, reason="epic, not an issue"
    )


def _unique(found: list[IssueRef | NotFollowup]) -> GitLabLinks:
    issues: dict[tuple[str, int], IssueRef] = {}
    others: dict[tuple[NotFollowupKind, str], NotFollowup] = {}
    for item in found:
        if isinstance(item, IssueRef):
            issues.setdefault((item.project.casefold(), item.iid), item)
        else:
            others.setdefault((item.kind, item.text.casefold()), item)
    return GitLabLinks(
        issues=tuple(issues.values()), not_followups=tuple(others.values())
    )
