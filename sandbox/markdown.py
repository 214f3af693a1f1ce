"""The few Markdown rules that decide what GitLab executes or notifies.

Quick actions and @mentions only count in running text: not in fenced code
blocks, not in code spans, and (for quick actions) not in blockquotes. This
module finds those regions line by line, the way GitLab's Markdown renderer
and quick action extractor see them, without rendering anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_CLOSING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# A username starts with a letter, digit or underscore and goes on with those,
# dots and dashes. The look-behind rejects a word character (an e-mail address),
# a backslash (an escaped @) and a backtick.
_MENTION = re.compile(r"(?<![\w\\`])@([A-Za-z0-9_][A-Za-z0-9_.\-]*)")


def iter_lines(text: str, *, multiline_quotes: bool) -> Iterator[tuple[str, bool]]:
    """Yield each line of text with a flag that is True inside a code block.

    Fence lines themselves count as inside. An unclosed fence runs to the end
    of the text, as in CommonMark. With multiline_quotes, GitLab's ``>>>``
    blockquote blocks count as inside too, because the quick action extractor
    skips them.
    """
    fence: str | None = None
    in_quote = False
    for line in text.split("\n"):
        if fence is not None:
            closing = _CLOSING_FENCE.match(line)
            if (
                closing
                and closing.group(1)[0] == fence[0]
                and len(closing.group(1)) >= len(fence)
            ):
                fence = None
            yield line, True
            continue
        if in_quote:
            if line.rstrip() == ">>>":
                in_quote = False
            yield line, True
            continue
        match = _FENCE.match(line)
        if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
            yield line, True
            continue
        if multiline_quotes and line.rstrip() == ">>>":
            in_quote = True
            yield line, True
            continue
        yield line, False


def _blank(text: str) -> str:
    """Replace every character but line breaks with a space."""
    return re.sub(r"[^\n]", " ", text)


def blank_code_spans(text: str) -> str:
    """Return text with each inline code span blanked out.

    A span opens with a run of N backticks and closes at the next run of
    exactly N backticks in the same paragraph. A run without a partner is
    literal text. A backslash-escaped backtick opens nothing.
    """
    paragraphs = re.split(r"(\n[ \t]*\n)", text)
    return "".join(_blank_spans_in_paragraph(part) for part in paragraphs)


def _blank_spans_in_paragraph(text: str) -> str:
    out = list(text)
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char != "`":
            i += 1
            continue
        end_of_run = i
        while end_of_run < len(text) and text[end_of_run] == "`":
            end_of_run += 1
        width = end_of_run - i
        closing = _find_backtick_run(text, end_of_run, width)
        if closing < 0:
            i = end_of_run
            continue
        for position in range(i, closing + width):
            if out[position] != "\n":
                out[position] = " "
        i = closing + width
    return "".join(out)


def _find_backtick_run(text: str, start: int, width: int) -> int:
    """Return where the next run of exactly width backticks begins, or -1."""
    position = start
    while True:
        found = text.find("`" * width, position)
        if found < 0:
            return -1
        end = found
        while end < len(text) and text[end] == "`":
            end += 1
        if end - found == width:
            return found
        position = end


def prose(text: str) -> str:
    """Return text with code blocks, code spans and HTML comments blanked.

    Positions and line breaks are kept, so the result lines up with the
    input. Indented code blocks (four spaces after a blank line) are blanked
    too. NOTE: list items whose continuation lines are indented four spaces
    are not distinguished from indented code, so a mention there is missed.
    """
    text = text.replace("\r\n", "\n")
    text = _HTML_COMMENT.sub(lambda match: _blank(match.group(0)), text)
    lines: list[str] = []
    previous_blank = True
    in_indented_code = False
    for line, in_code in iter_lines(text, multiline_quotes=False):
        if in_code:
            lines.append(_blank(line))
            previous_blank = False
            in_indented_code = False
            continue
        indented = line.startswith("    ") or line.startswith("\t")
        if indented and line.strip() and (previous_blank or in_indented_code):
            lines.append(_blank(line))
            in_indented_code = True
        else:
            lines.append(line)
            if line.strip():
                in_indented_code = False
        previous_blank = not line.strip()
    return blank_code_spans("\n".join(lines))


def find_mentions(text: str) -> list[str]:
    """Return the usernames that text mentions, lower-cased, first one first.

    GitLab looks usernames up without regard to case and notifies each user
    once per text, so duplicates are dropped. A trailing dot ends a sentence
    rather than a username, because GitLab usernames cannot end in a dot.
    """
    found: list[str] = []
    for match in _MENTION.finditer(prose(text)):
        name = match.group(1).rstrip(".").lower()
        if name and name not in found:
            found.append(name)
    return found
