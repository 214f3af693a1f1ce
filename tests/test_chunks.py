"""Splitting long chat messages and GitLab notes into parts that fit."""

from __future__ import annotations

import re

import pytest

from incidentbot.chunks import split_for_gitlab, split_for_slack

WOMAN_TECHNOLOGIST = "\U0001f469\u200d\U0001f4bb"  # 👩‍💻, a ZWJ sequence
FIRE = "\U0001f525"
FLAG_US = "\U0001f1fa\U0001f1f8"  # two regional indicators
KEYCAP_ONE = "1\ufe0f\u20e3"  # 1️⃣
THUMBS_UP_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽 with a skin-tone modifier
EMOJI = (WOMAN_TECHNOLOGIST, FIRE, FLAG_US, KEYCAP_ONE, THUMBS_UP_MEDIUM)

LINK = re.compile(r"<[^<>]+>")
SLACK_MARKS = range(3900, 23_000, 3900)
LAG_LINK = "<https://grafana.example.com/d/pg|lag panel> "


def strip_slack_markers(parts: list[str]) -> list[str]:
    """Return the Slack parts without the ``` markers that close and reopen blocks."""
    contents: list[str] = []
    for index, part in enumerate(parts):
        text = "".join(contents)
        if text.count("```") % 2 == 1:
            assert part.startswith("```\n"), f"part {index + 1} does not reopen"
            part = part.removeprefix("```\n")
        is_last = index == len(parts) - 1
        if not is_last and (text + part.removesuffix("```")).count("```") % 2 == 1:
            part = part.removesuffix("```")
        contents.append(part)
    return contents


def cut_offsets(parts: list[str]) -> list[int]:
    """Return where each Slack part after the first starts in the original text."""
    offsets = []
    offset = 0
    for content in strip_slack_markers(parts)[:-1]:
        offset += len(content)
        offsets.append(offset)
    return offsets


def spans_of(text: str, needle: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(needle), text)]


class SummaryBuilder:
    """Text built piece by piece, with something unsplittable across each mark."""

    def __init__(self) -> None:
        self.text = ""

    def add(self, piece: str, filler: str = "lag ", straddler: str = LAG_LINK) -> None:
        mark = next(
            (
                m
                for m in SLACK_MARKS
                if len(self.text) < m <= len(self.text) + len(piece)
            ),
            None,
        )
        if mark is not None:
            # The straddler starts one character before the mark.
            gap = mark - len(self.text) - 1
            self.text += (filler * gap)[:gap] + straddler
        self.text += piece


def incident_summary() -> str:
    """Build a 23,000-character incident summary for Slack.

    It has 180 timeline lines, a paragraph longer than a part, a log excerpt in
    a code block and a run of emoji with no spaces. A link with spaces in its
    label or a ZWJ emoji straddles every multiple of 3,900 characters, so a cut
    made by counting alone would break it.
    """
    summary = SummaryBuilder()
    summary.add("*Summary: payments-db replication lag*\n\n*Timeline (UTC)*\n")
    for n in range(180):
        summary.add(
            f"{n // 60 + 16}:{n % 60:02d} {FIRE} {WOMAN_TECHNOLOGIST} "
            f"lag {n * 7} s <https://graf.example/pg?n={n}|panel>\n"
        )

    summary.add("\n*Notes*\n")
    for n in range(64):
        summary.add(
            f"{FIRE} step {n} <https://runbooks.example.com/pg#{n}|runbook step {n}> "
        )

    summary.add("\n```\n")
    for n in range(100):
        summary.add(
            f"00:{n % 60:02d}:00Z replica lag {n} s &amp; rising\n",
            straddler=WOMAN_TECHNOLOGIST,
        )
    summary.add("```\n")

    for _ in range(360):
        summary.add("".join(EMOJI), filler=FIRE, straddler=WOMAN_TECHNOLOGIST)
    summary.add("\n")
    return summary.text


def test_split_for_slack_short_text_unchanged() -> None:
    assert split_for_slack("Mitigated: replica caught up.") == [
        "Mitigated: replica caught up."
    ]


def test_split_for_slack_blank_text_has_no_parts() -> None:
    assert split_for_slack("") == []
    assert split_for_slack(" \n\t ") == []


def test_split_for_slack_at_line_breaks() -> None:
    text = "first line of the timeline here\nsecond line of the timeline\nthird"

    assert split_for_slack(text, 40) == [
        "first line of the timeline here\n",
        "second line of the timeline\nthird",
    ]


def test_split_for_slack_at_spaces() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"

    assert split_for_slack(text, 40) == [
        "alpha beta gamma delta epsilon zeta eta ",
        "theta iota kappa",
    ]


def test_split_for_slack_keeps_link_whole() -> None:
    text = "look at the panel <https://grafana.example.com|Grafana> now"

    assert split_for_slack(text, 40) == [
        "look at the panel ",
        "<https://grafana.example.com|Grafana> ",
        "now",
    ]


def test_split_for_slack_cuts_link_longer_than_part() -> None:
    text = "see <https://example.com/" + "a" * 60 + "|x> end"

    assert split_for_slack(text, 40) == [
        "see ",
        "<https://example.com/" + "a" * 19,
        "a" * 40,
        "a|x> end",
    ]


def test_split_for_slack_keeps_html_entity_whole() -> None:
    assert split_for_slack("a" * 37 + "&amp;b", 40) == ["a" * 37, "&amp;b"]


@pytest.mark.parametrize(
    ("sequence", "name"),
    [
        (WOMAN_TECHNOLOGIST, "ZWJ sequence"),
        (KEYCAP_ONE, "keycap"),
        (THUMBS_UP_MEDIUM, "skin-tone modifier"),
        ("e\u0301", "combining accent"),
        ("\u1100\u1161\u11a8", "Hangul jamo"),
        ("\u2764\ufe0f", "variation selector"),
    ],
)
def test_split_for_slack_keeps_cluster_whole(sequence: str, name: str) -> None:
    text = "a" * 39 + sequence + "b"

    assert split_for_slack(text, 40) == ["a" * 39, sequence + "b"], name


def test_split_for_slack_keeps_flag_pairs() -> None:
    assert split_for_slack(FLAG_US * 25, 40) == [FLAG_US * 20, FLAG_US * 5]


def test_split_for_slack_cuts_oversized_cluster() -> None:
    # A letter with 100 combining marks cannot fit, so it is cut between marks.
    text = "a" + "\u0301" * 100

    assert split_for_slack(text, 40) == [
        "a" + "\u0301" * 39,
        "\u0301" * 40,
        "\u0301" * 21,
    ]


def test_split_for_slack_reopens_code_block() -> None:
    text = "log:\n```\nline one of the log\nline two of the log\nline three\n```\ndone"

    assert split_for_slack(text, 40) == [
        "log:\n```\nline one of the log\n```",
        "```\nline two of the log\nline three\n```\n",
        "done",
    ]


def test_split_for_slack_closes_block_mid_line() -> None:
    text = "```" + "word " * 12 + "```"

    assert split_for_slack(text, 40) == [
        "```word word word word word word ```",
        "```\nword word word word word word ```",
    ]


def test_split_for_slack_drops_whitespace_only_parts() -> None:
    text = "a\n" + " " * 100 + "\nb"

    assert split_for_slack(text, 40) == ["a\n", " " * 20 + "\nb"]


def test_split_for_slack_rejects_tiny_limit() -> None:
    with pytest.raises(ValueError) as error:
        split_for_slack("x" * 100, 10)

    assert str(error.value) == "invalid limit 10: use at least 40 characters"


def unsplittable_spans(text: str) -> list[tuple[int, int]]:
    """Return the spans of links, `&amp;` and the test's emoji in the text."""
    spans = [match.span() for match in LINK.finditer(text)]
    for needle in ("&amp;", *EMOJI):
        spans.extend(spans_of(text, needle))
    return spans


def test_split_for_slack_incident_summary() -> None:
    text = incident_summary()
    unsplittable = unsplittable_spans(text)
    assert len(text) == 23_012
    assert text.count("\n") == 289
    for mark in SLACK_MARKS:
        assert any(start < mark < end for start, end in unsplittable), mark

    parts = split_for_slack(text)

    assert [len(part) for part in parts] == [
        3865,
        3884,
        3201,
        3891,
        3884,
        328,
        3899,
        67,
    ]
    for number, part in enumerate(parts, 1):
        assert len(part) <= 3900, f"part {number} has {len(part)} characters"
        assert part.strip(), f"part {number} is blank"
    assert "".join(strip_slack_markers(parts)) == text
    for offset in cut_offsets(parts):
        broken = [text[s:e] for s, e in unsplittable if s < offset < e]
        assert broken == [], f"the cut at {offset} breaks {broken}"


def test_split_for_slack_summary_cut_kinds() -> None:
    parts = split_for_slack(incident_summary())

    # Timeline: at a line break.
    assert parts[0].endswith("<https://graf.example/pg?n=64|panel>\n")
    # Paragraph: at a space, before a link whose label has spaces.
    assert parts[3].endswith(" step 61 ")
    assert parts[4].startswith("<https://runbooks.example.com/pg#61|runbook step 61>")
    # Code block: closed and reopened.
    assert parts[4].endswith("00:31:00Z replica lag 91 s &amp; rising\n```")
    assert parts[5].startswith("```\n00:32:00Z replica lag 92 s &amp; rising\n")
    # Emoji run: between two grapheme clusters.
    assert parts[6].endswith(THUMBS_UP_MEDIUM)
    assert parts[7].startswith(WOMAN_TECHNOLOGIST + FIRE)


def test_split_for_gitlab_short_text_unchanged() -> None:
    assert split_for_gitlab("**Status update** by alice") == [
        "**Status update** by alice"
    ]


def test_split_for_gitlab_single_line_over_limit() -> None:
    body = "replica lag rising " * 63_158 + "end"
    assert len(body) == 1_200_005

    parts = split_for_gitlab(body)

    # 999,985 characters fit after the label, and the last space before that
    # is the one after "lag" at offset 999,981.
    assert parts == [
        "(part 1 of 2)\n\n" + body[:999_982],
        "(part 2 of 2)\n\n" + body[999_982:],
    ]
    assert parts[0].endswith("replica lag ")
    assert parts[1].startswith("(part 2 of 2)\n\nrising replica")
    assert len(parts[0]) == 999_997


def test_split_for_gitlab_unbroken_line_over_limit() -> None:
    body = "A" * 1_200_000

    parts = split_for_gitlab(body)

    assert parts == [
        "(part 1 of 2)\n\n" + "A" * 999_985,
        "(part 2 of 2)\n\n" + "A" * 200_015,
    ]


def test_split_for_gitlab_reopens_fence_with_info() -> None:
    text = "```python\nprint(1)\nprint(2)\nprint(3)\nprint(4)\nprint(5)\n```\nafter"

    assert split_for_gitlab(text, 60) == [
        "(part 1 of 2)\n\n```python\nprint(1)\nprint(2)\nprint(3)\n```",
        "(part 2 of 2)\n\n```python\nprint(4)\nprint(5)\n```\nafter",
    ]


def test_split_for_gitlab_reopens_fence_in_quote() -> None:
    text = "> ```\n> one two three\n> four five six\n> seven eight\n> ```\n> tail"

    assert split_for_gitlab(text, 60) == [
        "(part 1 of 2)\n\n> ```\n> one two three\n> four five six\n> ```",
        "(part 2 of 2)\n\n> ```\n> seven eight\n> ```\n> tail",
    ]


def test_split_for_gitlab_closes_fence_on_own_line() -> None:
    text = "~~~\n" + "word " * 20 + "\n~~~"

    assert split_for_gitlab(text, 60) == [
        "(part 1 of 3)\n\n~~~\nword word word word word word word \n~~~",
        "(part 2 of 3)\n\n~~~\nword word word word word word word \n~~~",
        "(part 3 of 3)\n\n~~~\nword word word word word word \n~~~",
    ]


def test_split_for_gitlab_no_part_starts_with_command() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta /close iota kappa lambda"

    assert split_for_gitlab(text, 55) == [
        "(part 1 of 2)\n\nalpha beta gamma delta epsilon zeta eta ",
        "(part 2 of 2)\n\ntheta /close iota kappa lambda",
    ]


def test_split_for_gitlab_no_part_starts_with_at() -> None:
    text = "x" * 43 + "bo@example.com" + "y" * 20

    assert split_for_gitlab(text, 60) == [
        "(part 1 of 2)\n\n" + "x" * 43 + "b",
        "(part 2 of 2)\n\no@example.com" + "y" * 20,
    ]


def test_split_for_gitlab_label_width_grows() -> None:
    text = "\n".join(f"line {n:03d} of the incident timeline" for n in range(12))

    parts = split_for_gitlab(text, 60)

    assert len(parts) == 12
    assert parts[0] == "(part 1 of 12)\n\nline 000 of the incident timeline\n"
    assert parts[11] == "(part 12 of 12)\n\nline 011 of the incident timeline"


def test_split_for_gitlab_rejects_tiny_limit() -> None:
    with pytest.raises(ValueError) as error:
        split_for_gitlab("x" * 70, 50)

    assert str(error.value) == (
        "invalid limit 50: the part labels leave fewer than 40 characters "
        "for text, use a larger limit"
    )
