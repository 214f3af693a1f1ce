"""Tests of finding GitLab issue references in Slack messages."""

import pytest

from incidentbot.gitlab_links import (
    GitLabLinks,
    IssueRef,
    NotFollowup,
    NotFollowupKind,
    find_gitlab_links,
)

GITLAB = "https://gitlab.example.com"
FOLLOW_UPS = "https://gitlab.example.com/sre/follow-ups/-/issues"


def find(message: str, gitlab_url: str = GITLAB) -> GitLabLinks:
    return find_gitlab_links(message, gitlab_url)


def references(message: str, gitlab_url: str = GITLAB) -> list[str]:
    return [issue.reference for issue in find(message, gitlab_url).issues]


def not_followups(message: str) -> list[tuple[str, NotFollowupKind]]:
    return [(item.text, item.kind) for item in find(message).not_followups]


def issue(project: str, iid: int, *, work_item: bool = False) -> IssueRef:
    return IssueRef(
        project=project,
        iid=iid,
        url=f"{GITLAB}/{project}/-/issues/{iid}",
        from_work_item=work_item,
    )


# Slack rewrites pasted URLs: it adds http:// and a label to host-looking
# text, escapes & as &amp;, and links to one comment carry #note_<id>.
SLACK_REWRITES = [
    "see <http://gitlab.example.com/sre/follow-ups/-/issues/7"
    "|gitlab.example.com/sre/follow-ups/-/issues/7>",
    "<https://gitlab.example.com/sre/follow-ups/-/issues/12"
    "?sort=created_asc&amp;tab=notes#note_88120>",
    "same one, other comment: "
    "<https://gitlab.example.com/sre/follow-ups/-/issues/12#note_88121>",
]


def test_labelled_http_link_counts_once() -> None:
    links = find(SLACK_REWRITES[0])

    assert links.issues == (issue("sre/follow-ups", 7),)
    assert links.issues[0].url == f"{FOLLOW_UPS}/7"
    assert links.not_followups == ()


def test_query_and_note_anchor_dropped() -> None:
    links = find(SLACK_REWRITES[1])

    assert links.issues == (issue("sre/follow-ups", 12),)
    assert links.issues[0].url == f"{FOLLOW_UPS}/12"


def test_same_issue_across_messages() -> None:
    second = find(SLACK_REWRITES[1]).issues
    third = find(SLACK_REWRITES[2]).issues

    assert [ref.url for ref in second] == [f"{FOLLOW_UPS}/12"]
    assert [ref.url for ref in third] == [f"{FOLLOW_UPS}/12"]


def test_note_ids_never_issue_numbers() -> None:
    links = find("\n".join(SLACK_REWRITES))

    assert [ref.iid for ref in links.issues] == [7, 12]
    assert links.not_followups == ()


def test_entities_decoded_once() -> None:
    # "&amp;amp;4" decodes once to "&amp;4", which is no epic reference.
    assert find("sre&amp;amp;4").not_followups == ()
    assert not_followups("sre&amp;4") == [("sre&4", NotFollowupKind.EPIC)]


# GitLab URL shapes: work items, legacy paths without /-/, deep subgroups.
URL_SHAPES = (
    "<https://gitlab.example.com/sre/follow-ups/-/work_items/318>\n"
    "<https://gitlab.example.com/sre/follow-ups/issues/319>\n"
    "<https://gitlab.example.com/acme/platform/storage/ceph-ops/-/issues/9>"
)


def test_url_shapes() -> None:
    links = find(URL_SHAPES)

    assert links.issues == (
        issue("sre/follow-ups", 318, work_item=True),
        issue("sre/follow-ups", 319),
        issue("acme/platform/storage/ceph-ops", 9),
    )
    assert links.not_followups == ()


def test_legacy_url_made_canonical() -> None:
    (legacy,) = find("<https://gitlab.example.com/sre/follow-ups/issues/319>").issues

    assert legacy.url == f"{FOLLOW_UPS}/319"


def test_work_item_flagged() -> None:
    (work_item, plain) = find(
        "<https://gitlab.example.com/sre/follow-ups/-/work_items/318> "
        "<https://gitlab.example.com/sre/follow-ups/-/issues/5>"
    ).issues

    assert work_item.from_work_item is True
    assert work_item.url == f"{FOLLOW_UPS}/318"
    assert plain.from_work_item is False


# Merge requests, epics and sub-pages: only the design page's issue counts.
OBJECT_KINDS = (
    "<https://gitlab.example.com/sre/api/-/merge_requests/77/diffs?diff_id=3>\n"
    "<https://gitlab.example.com/groups/sre/-/epics/4>\n"
    "<https://gitlab.example.com/sre/follow-ups/-/issues/15/designs/graph.png>\n"
    "<https://gitlab.example.com/sre/follow-ups/-/issues/new>"
)


def test_merge_requests_and_epics_not_followups() -> None:
    links = find(OBJECT_KINDS)

    assert links.issues == (issue("sre/follow-ups", 15),)
    assert links.not_followups == (
        NotFollowup(
            text="sre/api!77",
            kind=NotFollowupKind.MERGE_REQUEST,
            reason="merge request, not an issue",
        ),
        NotFollowup(
            text="sre&4", kind=NotFollowupKind.EPIC, reason="epic, not an issue"
        ),
    )


# Short references: only group/project#N names an issue without a guess.
SHORT_REFERENCES = (
    "dup of #12 - real fix tracked in sre/follow-ups#14, rollback in sre/api!33, "
    "details in <#C0OPS00009|ops> and `#99` in the runbook"
)


def test_short_references() -> None:
    links = find(SHORT_REFERENCES)

    assert links.issues == (issue("sre/follow-ups", 14),)
    assert links.not_followups == (
        NotFollowup(
            text="#12",
            kind=NotFollowupKind.NO_PROJECT,
            reason="no full project path, so write it as group/project#12",
        ),
        NotFollowup(
            text="sre/api!33",
            kind=NotFollowupKind.MERGE_REQUEST,
            reason="merge request, not an issue",
        ),
    )


def test_incident_excluded_by_caller() -> None:
    # The bot's own confirmation names both the follow-up and the incident.
    message = (
        "Linked <https://gitlab.example.com/sre/follow-ups/-/issues/7"
        "|sre/follow-ups#7> as a follow-up of sre/incidents#42"
    )

    links = find(message)
    followups = [ref for ref in links.issues if not ref.is_issue("sre/incidents", 42)]

    assert references(message) == ["sre/follow-ups#7", "sre/incidents#42"]
    assert followups == [issue("sre/follow-ups", 7)]


def test_edited_message_new_reference() -> None:
    original = "follow-up: <https://gitlab.example.com/sre/follow-ups/-/issues/1234>"
    edited = "follow-up: <https://gitlab.example.com/sre/follow-ups/-/issues/1235>"

    assert references(original) == ["sre/follow-ups#1234"]
    assert references(edited) == ["sre/follow-ups#1235"]


def test_is_issue() -> None:
    ref = issue("sre/Follow-ups", 7)

    assert ref.is_issue("sre/follow-ups", 7)
    assert ref.is_issue("SRE/FOLLOW-UPS", 7)
    assert not ref.is_issue("sre/follow-ups", 8)
    assert not ref.is_issue("sre/incidents", 7)
    assert not ref.is_issue("sre", 7)
    assert not ref.is_issue("123", 7)


URL_CASES = {
    "incident issue": ("sre/incidents/-/issues/incident/42", "sre/incidents#42"),
    "trailing slash": ("sre/follow-ups/-/issues/7/", "sre/follow-ups#7"),
    "legacy sub-page": ("sre/follow-ups/issues/7/designs", "sre/follow-ups#7"),
    "work item sub-page": ("sre/follow-ups/-/work_items/7/designs", "sre/follow-ups#7"),
    "encoded path": ("sre/follow%2Dups/-/issues/7", "sre/follow-ups#7"),
    "dots and underscores": ("my_group/web.site/-/issues/3", "my_group/web.site#3"),
}


@pytest.mark.parametrize(("path", "expected"), URL_CASES.values(), ids=URL_CASES)
def test_issue_url_forms(path: str, expected: str) -> None:
    assert references(f"<{GITLAB}/{path}>") == [expected]


IGNORED_URLS = {
    "new issue": "sre/follow-ups/-/issues/new",
    "issue list": "sre/follow-ups/-/issues?label_name=bug",
    "issue zero": "sre/follow-ups/-/issues/0",
    "project page": "sre/follow-ups",
    "one segment": "sre/-/issues/7",
    "new merge request": "sre/api/-/merge_requests/new",
    "group issue list": "groups/sre/-/issues",
    "pipeline": "sre/api/-/pipelines/9981",
    "commit": "sre/api/-/commit/4f3a2b1",
}


@pytest.mark.parametrize("path", IGNORED_URLS.values(), ids=IGNORED_URLS)
def test_urls_without_items_ignored(path: str) -> None:
    links = find(f"<{GITLAB}/{path}>")

    assert links.issues == ()
    assert links.not_followups == ()


NOT_FOLLOWUP_URLS = {
    "merge request": ("sre/api/-/merge_requests/77", "sre/api!77"),
    "legacy merge request": ("sre/api/merge_requests/77", "sre/api!77"),
    "subgroup epic": ("groups/sre/platform/-/epics/4", "sre/platform&4"),
    "group work item": ("groups/sre/-/work_items/8", "sre&8"),
}


@pytest.mark.parametrize(
    ("path", "expected"), NOT_FOLLOWUP_URLS.values(), ids=NOT_FOLLOWUP_URLS
)
def test_not_followup_urls(path: str, expected: str) -> None:
    links = find(f"<{GITLAB}/{path}>")

    assert links.issues == ()
    assert [item.text for item in links.not_followups] == [expected]


def test_other_hosts_ignored() -> None:
    message = (
        "<https://gitlab.com/sre/follow-ups/-/issues/1> "
        "<https://gitlab.example.com.evil.example/sre/follow-ups/-/issues/2> "
        "<https://eu.gitlab.example.com/sre/follow-ups/-/issues/3> "
        "<https://github.com/sre/follow-ups/issues/4> "
        "<ftp://gitlab.example.com/sre/follow-ups/-/issues/5>"
    )

    links = find(message)

    assert links.issues == ()
    assert links.not_followups == ()


def test_host_case_ignored() -> None:
    message = "<HTTPS://GitLab.Example.COM/sre/follow-ups/-/issues/7>"

    assert find(message).issues == (issue("sre/follow-ups", 7),)


def test_path_prefix() -> None:
    gitlab_url = "https://example.com/gitlab/"
    message = (
        "<https://example.com/gitlab/sre/follow-ups/-/issues/7> "
        "<https://example.com/sre/follow-ups/-/issues/8> "
        "<https://example.com/gitlabx/sre/follow-ups/-/issues/9> "
        "<http://example.com/gitlab/groups/sre/-/epics/4>"
    )

    links = find(message, gitlab_url)

    assert [ref.reference for ref in links.issues] == ["sre/follow-ups#7"]
    assert links.issues[0].url == "https://example.com/gitlab/sre/follow-ups/-/issues/7"
    assert [item.text for item in links.not_followups] == ["sre&4"]


def test_path_prefix_short_reference() -> None:
    (ref,) = find("sre/follow-ups#14", "https://example.com/gitlab").issues

    assert ref.url == "https://example.com/gitlab/sre/follow-ups/-/issues/14"


PORT_CASES = {
    "default https port written": ("https://gitlab.example.com", ":443", True),
    "http default port": ("https://gitlab.example.com", ":80", True),
    "other port": ("https://gitlab.example.com", ":8080", False),
    "configured port": ("https://gitlab.example.com:8443", ":8443", True),
    "configured port missing": ("https://gitlab.example.com:8443", "", False),
}


@pytest.mark.parametrize(
    ("gitlab_url", "port", "found"), PORT_CASES.values(), ids=PORT_CASES
)
def test_ports(gitlab_url: str, port: str, found: bool) -> None:
    scheme = "http" if port == ":80" else "https"
    message = f"<{scheme}://gitlab.example.com{port}/sre/follow-ups/-/issues/7>"

    assert references(message, gitlab_url) == (["sre/follow-ups#7"] if found else [])


def test_canonical_url_without_default_port() -> None:
    (ref,) = find(
        "<https://gitlab.example.com/sre/follow-ups/-/issues/7>",
        "https://gitlab.example.com:443",
    ).issues

    assert ref.url == f"{FOLLOW_UPS}/7"


def test_canonical_url_keeps_configured_server() -> None:
    # A GitLab served over plain http, such as a local test server, keeps its
    # scheme and port in the canonical URL.
    (ref,) = find(
        "<http://127.0.0.1:8929/sre/follow-ups/-/issues/7>", "http://127.0.0.1:8929"
    ).issues

    assert ref.url == "http://127.0.0.1:8929/sre/follow-ups/-/issues/7"


CODE_CASES = {
    "code span reference": "see `sre/follow-ups#3` for the syntax",
    "code span link": "`<https://gitlab.example.com/sre/follow-ups/-/issues/3>`",
    "code block": "```\ncurl <https://gitlab.example.com/sre/follow-ups/-/issues/3>\n"
    "sre/follow-ups#4 sre/api!5\n```",
    "code block one line": "```sre/follow-ups#3```",
}


@pytest.mark.parametrize("message", CODE_CASES.values(), ids=CODE_CASES)
def test_code_ignored(message: str) -> None:
    links = find(message)

    assert links.issues == ()
    assert links.not_followups == ()


def test_text_around_code_counts() -> None:
    message = "sre/follow-ups#1 `sre/follow-ups#2` sre/follow-ups#3 ```#4``` #5"

    assert references(message) == ["sre/follow-ups#1", "sre/follow-ups#3"]
    assert not_followups(message) == [("#5", NotFollowupKind.NO_PROJECT)]


def test_unclosed_backtick_not_code() -> None:
    assert references("don't ` forget sre/follow-ups#3") == ["sre/follow-ups#3"]


def test_link_label_ignored() -> None:
    message = (
        "<https://docs.example.org/runbook|sre/follow-ups#9> "
        "<https://gitlab.example.com/sre/follow-ups/-/issues/7|see sre/api!4 and #5>"
    )

    links = find(message)

    assert links.issues == (issue("sre/follow-ups", 7),)
    assert links.not_followups == ()


def test_slack_markup_ignored() -> None:
    message = (
        "<@U0BOB00002> <!here> <!subteam^S0DBA00001|@dba-oncall> <#C0OPS00009> "
        "<#C0OPS00009|ops> <mailto:sre@example.com|sre@example.com>"
    )

    links = find(message)

    assert links.issues == ()
    assert links.not_followups == ()


def test_unwrapped_url_in_text() -> None:
    message = f"see {FOLLOW_UPS}/8. And ({FOLLOW_UPS}/9)"

    assert references(message) == ["sre/follow-ups#8", "sre/follow-ups#9"]


def test_formatted_references() -> None:
    # Italic and bold references count, a struck-through one does not.
    message = "_sre/follow-ups#14_ *sre/follow-ups#15* ~sre/follow-ups#16~ *sre/api!3*"

    assert references(message) == ["sre/follow-ups#14", "sre/follow-ups#15"]
    assert not_followups(message) == [("sre/api!3", NotFollowupKind.MERGE_REQUEST)]


def test_deep_subgroup_reference() -> None:
    assert references("acme/platform/storage/ceph-ops#9") == [
        "acme/platform/storage/ceph-ops#9"
    ]


SHORT_REFERENCE_CASES = {
    "epic": ("work under sre&4", [("sre&4", NotFollowupKind.EPIC)]),
    "subgroup epic": (
        "gitlab-org/plan&7",
        [("gitlab-org/plan&7", NotFollowupKind.EPIC)],
    ),
    "merge request": ("sre/api!33", [("sre/api!33", NotFollowupKind.MERGE_REQUEST)]),
    "project without group": (
        "follow-ups#14",
        [("follow-ups#14", NotFollowupKind.NO_PROJECT)],
    ),
    "bare issue": ("(#12)", [("#12", NotFollowupKind.NO_PROJECT)]),
    "bare merge request": ("see !33", []),
    "bare epic": ("see &4", []),
    "numbers with ampersand": ("rows 3&4", []),
    "numbers with hash": ("build 2024#5", []),
    "words with ampersand": ("Q&A and R&D", []),
    "note anchor text": ("#note_88120", []),
    "number then letters": ("#12abc", []),
    "email address": ("bob@sre/api!33", []),
}


@pytest.mark.parametrize(
    ("message", "expected"), SHORT_REFERENCE_CASES.values(), ids=SHORT_REFERENCE_CASES
)
def test_short_reference_kinds(
    message: str, expected: list[tuple[str, NotFollowupKind]]
) -> None:
    assert references(message) == []
    assert not_followups(message) == expected


def test_duplicates_removed_first_kept() -> None:
    message = (
        "SRE/Follow-ups#7 <https://gitlab.example.com/sre/follow-ups/-/issues/7> "
        "sre/follow-ups#7 sre/api!3 "
        "<https://gitlab.example.com/sre/api/-/merge_requests/3/diffs> #5 #5"
    )

    links = find(message)

    assert links.issues == (
        IssueRef(
            project="SRE/Follow-ups",
            iid=7,
            url=f"{GITLAB}/SRE/Follow-ups/-/issues/7",
            from_work_item=False,
        ),
    )
    assert [item.text for item in links.not_followups] == ["sre/api!3", "#5"]


def test_message_order() -> None:
    message = (
        "sre/follow-ups#3 then <https://gitlab.example.com/sre/follow-ups/-/issues/1>"
        " then infra/ops#2"
    )

    assert references(message) == [
        "sre/follow-ups#3",
        "sre/follow-ups#1",
        "infra/ops#2",
    ]


def test_empty_message() -> None:
    assert find("") == GitLabLinks(issues=(), not_followups=())


@pytest.mark.parametrize(
    "gitlab_url", ["gitlab.example.com", "ftp://gitlab.example.com", "https://", ""]
)
def test_invalid_gitlab_url(gitlab_url: str) -> None:
    with pytest.raises(ValueError) as raised:
        find("sre/follow-ups#1", gitlab_url)

    assert str(raised.value) == (
        f"invalid GitLab URL {gitlab_url!r}: use the address of the GitLab server, "
        "such as https://gitlab.example.com or https://example.com/gitlab"
    )


def test_invalid_gitlab_port() -> None:
    with pytest.raises(ValueError, match="invalid GitLab URL 'https://gitlab:x'"):
        find("sre/follow-ups#1", "https://gitlab:x")
