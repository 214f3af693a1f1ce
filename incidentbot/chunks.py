"""Splitting long text into messages or notes that each fit a length limit.

Lengths are counted in code points, as Python's len() does. A cut is made at
the last line break that fits, else at the last space or tab, else at the last
grapheme cluster boundary. Cuts avoid the inside of `<...>` (Slack links and
mentions, HTML tags), HTML entities such as `&amp;` and runs of backticks. A
code block open at a cut is closed at the end of the part and reopened at the
start of the next one.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

# Slack's API documentation limits messages that clients send to channels to
# 4,000 characters. The default leaves room for a short prefix from the caller.
SLACK_LIMIT = 3900

# GitLab's notes API rejects a note body longer than 1,000,000 characters.
GITLAB_LIMIT = 1_000_000

# Room for at least some text next to the part label and code fence markers.
_MIN_LIMIT = 40

_PROTECTED = re.compile(
    r"<[^\s<>][^<>\n]*>"  # Slack <...> markup, Markdown autolinks, HTML tags
    r"|&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
    r"|`{2,}"  # a cut inside ``` would break the fence
)

# CommonMark fenced code: a line of 0-3 spaces, then 3 or more backticks or
# tildes. Quote markers (`> `) before it put the block inside a blockquote.
_QUOTE_MARKER = re.compile(r"[ ]{0,3}>[ ]?")
_FENCE_OPEN = re.compile(r"([ ]{0,3})(`{3,}|~{3,})(.*)")

# GitLab deletes `\r` before it looks for quick actions at line starts.
_LINE_START_SLASH = re.compile(r"[ \t\r]*/")

_ZWJ = "\u200d"
_CR = "\r"
_LF = "\n"

# Grapheme_Cluster_Break=Prepend (Unicode 14): these join the character after.
_PREPEND = frozenset(
    [chr(c) for c in range(0x0600, 0x0606)]
    + ["\u06dd", "\u070f", "\u0890", "\u0891", "\u08e2", "\u0d4e"]
    + ["\U000110bd", "\U000110cd", "\U000111c2", "\U000111c3", "\U0001193f"]
    + ["\U00011941", "\U00011a3a", "\U00011d46"]
    + [chr(c) for c in range(0x11A84, 0x11A8A)]
)


def split_for_slack(text: str, limit: int = SLACK_LIMIT) -> list[str]:
    """Split text into Slack messages of at most `limit` characters each.

    Text within the limit is returned as the only part. A ``` block open at a
    cut is closed with ``` and reopened with ```. Blank text returns no parts,
    and white space that would fill a part on its own is dropped.
    """
    return _split(text, limit, _SlackLayout(text))


def split_for_gitlab(text: str, limit: int = GITLAB_LIMIT) -> list[str]:
    """Split text into GitLab notes of at most `limit` characters each.

    When there is more than one part, each starts with `(part 1 of 3)` and a
    blank line, counted within the limit. A fenced code block open at a cut is
    closed and reopened with its own fence line, inside blockquotes too. No cut
    leaves a part that starts with `/` (a quick action) or with `@` taken from
    the middle of a word such as an e-mail address (a mention).
    """
    if len(text) <= limit:
        return [text] if text.strip() else []

    layout = _GitLabLayout(text)
    digits = 1
    while True:
        # Each label must fit the widest part number of this many digits.
        widest = "9" * digits
        room = limit - len(_part_label(widest, widest))
        if room < _MIN_LIMIT:
            raise ValueError(
                f"invalid limit {limit}: the part labels leave fewer than "
                f"{_MIN_LIMIT} characters for text, use a larger limit"
            )
        parts = _split(text, room, layout)
        if len(str(len(parts))) <= digits:
            break
        digits += 1

    total = str(len(parts))
    return [
        _part_label(str(number), total) + part for number, part in enumerate(parts, 1)
    ]


def _part_label(number: str, total: str) -> str:
    return f"(part {number} of {total})\n\n"


@dataclass(frozen=True)
class _Block:
    """A code block: the offsets of its body and the markers to close and reopen it."""

    body_start: int
    body_end: int  # the offset of the closing fence line, or the text's end
    first_content: int  # the offset of the body's first non-blank character
    last_content: int  # the offset just after the body's last non-blank character
    reopen: str
    close: str


class _Layout:
    """The places in a text where a cut is not allowed, and its code blocks."""

    def __init__(self, text: str, blocks: list[_Block], spans: list[tuple[int, int]]):
        self.text = text
        self.blocks = blocks
        self._block_starts = [block.body_start for block in blocks]
        merged = _merge_spans(spans)
        self._span_starts = [start for start, _ in merged]
        self._spans = merged

    def block_open_at(self, cut: int) -> _Block | None:
        """Return the code block that a cut at this offset would leave open."""
        index = bisect.bisect_right(self._block_starts, cut) - 1
        if index < 0:
            return None
        block = self.blocks[index]
        return block if cut <= block.body_end else None

    def span_around(self, cut: int) -> tuple[int, int] | None:
        """Return the protected span that contains this offset inside it."""
        index = bisect.bisect_right(self._span_starts, cut - 1) - 1
        if index < 0:
            return None
        start, end = self._spans[index]
        return (start, end) if start < cut < end else None

    def closing_marker(self, block: _Block, cut: int) -> str:
        """Return the text that closes a code block left open by a cut."""
        return block.close

    def is_safe(self, cut: int) -> bool:
        """Return whether a cut here cannot make a command or mention live."""
        return True

    def is_tidy(self, cut: int) -> bool:
        """Return whether a cut here leaves no code block empty on either side."""
        block = self.block_open_at(cut)
        if block is None:
            return True
        return block.first_content < cut <= block.last_content


class _SlackLayout(_Layout):
    """Slack toggles a code block at every ```, wherever it is in a line.

    So the block is closed right after the text, even in the middle of a line.
    """

    def __init__(self, text: str):
        fences = [match.start() for match in re.finditer("```", text)]
        blocks = []
        for open_at, close_at in zip(
            fences[::2], [*fences[1::2], len(text)], strict=False
        ):
            body_start = open_at + 3
            blocks.append(_make_block(text, body_start, close_at, "```\n", "```"))
        spans = [match.span() for match in _PROTECTED.finditer(text)]
        super().__init__(text, blocks, spans)


class _GitLabLayout(_Layout):
    """GitLab follows CommonMark: fence lines, and blockquotes around them."""

    def __init__(self, text: str):
        blocks, fence_lines = _commonmark_blocks(text)
        spans = [match.span() for match in _PROTECTED.finditer(text)]
        super().__init__(text, blocks, spans + fence_lines)

    def closing_marker(self, block: _Block, cut: int) -> str:
        # A closing fence must stand on a line of its own.
        newline = "" if self.text.endswith(_LF, 0, cut) else _LF
        return newline + block.close

    def is_safe(self, cut: int) -> bool:
        # The text after the cut starts the first line of the next note, where
        # `/close` would run and `bob@example.com` would become `@example.com`.
        if _LINE_START_SLASH.match(self.text, cut):
            return False
        return not self.text.startswith("@", cut)


def _split(text: str, limit: int, layout: _Layout) -> list[str]:
    if limit < _MIN_LIMIT:
        raise ValueError(f"invalid limit {limit}: use at least {_MIN_LIMIT} characters")
    if not text.strip():
        return []
    if len(text) <= limit:
        return [text]

    parts: list[str] = []
    start = 0
    while start < len(text):
        block = layout.block_open_at(start) if start else None
        prefix = block.reopen if block else ""
        room = limit - len(prefix)
        if len(text) - start <= room:
            cut, suffix = len(text), ""
        else:
            cut, suffix = _cut_part(layout, start, limit, prefix)
        if text[start:cut].strip():
            parts.append(prefix + text[start:cut] + suffix)
        start = cut
    return parts


def _cut_part(layout: _Layout, start: int, limit: int, prefix: str) -> tuple[int, str]:
    """Find where the part that starts at `start` ends, and the marker it needs."""
    end = start + limit - len(prefix)
    while True:
        cut = _find_cut(layout, start, end)
        block = layout.block_open_at(cut)
        suffix = layout.closing_marker(block, cut) if block else ""
        if len(prefix) + (cut - start) + len(suffix) <= limit:
            return cut, suffix
        # The closing marker does not fit: look again further back.
        end = min(cut, start + limit - len(prefix) - len(suffix))
        if end <= start:
            raise ValueError(
                f"invalid limit {limit}: the code block markers {prefix!r} and "
                f"{suffix!r} leave no room for text, use a larger limit"
            )


def _find_cut(layout: _Layout, start: int, end: int) -> int:
    """Return the best cut in (start, end], trying each kind of place in turn."""
    text = layout.text
    searches = (
        (_after_each(text, start, end, (_LF,)), True),
        (_after_each(text, start, end, (" ", "\t")), True),
        (_grapheme_cuts(layout, start, end, skip_spans=True), True),
        # Only for a `<...>` link or a code block longer than a part.
        (_grapheme_cuts(layout, start, end, skip_spans=False), False),
        # Only for a grapheme cluster longer than a part.
        (iter(range(end, start, -1)), False),
    )
    for candidates, tidy in searches:
        for cut in candidates:
            if tidy and (layout.span_around(cut) or not layout.is_tidy(cut)):
                continue
            if layout.is_safe(cut):
                return cut
    raise ValueError(
        f"cannot split the text at offset {start}: every place up to offset {end} "
        "would start a part with / or @, so remove or reword that stretch"
    )


def _after_each(
    text: str, start: int, end: int, separators: tuple[str, ...]
) -> Iterator[int]:
    """Yield the offsets just after each separator in [start, end), last first."""
    limit = end
    while True:
        found = max(text.rfind(separator, start, limit) for separator in separators)
        if found < 0:
            return
        if _is_grapheme_boundary(text, found + 1):
            yield found + 1
        limit = found


def _grapheme_cuts(
    layout: _Layout, start: int, end: int, *, skip_spans: bool
) -> Iterator[int]:
    """Yield the grapheme cluster boundaries in (start, end], last first."""
    cut = end
    while cut > start:
        span = layout.span_around(cut) if skip_spans else None
        if span is not None:
            cut = span[0]
            continue
        if _is_grapheme_boundary(layout.text, cut):
            yield cut
        cut -= 1


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _make_block(
    text: str, body_start: int, body_end: int, reopen: str, close: str
) -> _Block:
    body = text[body_start:body_end]
    first = body_start + (len(body) - len(body.lstrip()))
    last = body_start + len(body.rstrip())
    return _Block(body_start, body_end, first, last, reopen, close)


@dataclass(frozen=True)
class _Fence:
    """An opening fence line: its text, fence character and length, and quotes."""

    line: str
    char: str
    length: int
    quote_prefix: str
    quote_depth: int

    def closes(self, line: str) -> bool:
        return (
            re.fullmatch(
                rf"[ ]{{0,3}}{re.escape(self.char)}{{{self.length},}}[ \t]*", line
            )
            is not None
        )


def _commonmark_blocks(text: str) -> tuple[list[_Block], list[tuple[int, int]]]:
    """Find the fenced code blocks, and the fence lines that must stay whole."""
    blocks: list[_Block] = []
    fence_lines: list[tuple[int, int]] = []
    fence: _Fence | None = None
    body_start = 0

    for line_start, line in _lines(text):
        # A fence line is kept whole with its newline, so no part ends with an
        # opening fence and nothing after it.
        line_span = (line_start, line_start + len(line) + 1)
        if fence is not None:
            prefix_length, depth = _quote_prefix(line, fence.quote_depth)
            closing = depth == fence.quote_depth and fence.closes(line[prefix_length:])
            if not closing and depth == fence.quote_depth:
                continue
            # The closing fence, or the end of the blockquote around the block.
            close = fence.quote_prefix + fence.char * fence.length
            blocks.append(
                _make_block(text, body_start, line_start, fence.line + _LF, close)
            )
            fence = None
            if closing:
                fence_lines.append(line_span)
                continue

        prefix_length, depth = _quote_prefix(line)
        opening = _FENCE_OPEN.fullmatch(line[prefix_length:])
        if opening is None:
            continue
        marker, info = opening[2], opening[3]
        if marker.startswith("`") and "`" in info:
            continue  # CommonMark reads this as inline code, not a fence.
        fence = _Fence(line, marker[0], len(marker), line[:prefix_length], depth)
        fence_lines.append(line_span)
        body_start = min(line_span[1], len(text))

    if fence is not None:
        close = fence.quote_prefix + fence.char * fence.length
        blocks.append(_make_block(text, body_start, len(text), fence.line + _LF, close))
    return blocks, fence_lines


def _lines(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for line in text.split(_LF):
        yield start, line
        start += len(line) + 1


def _quote_prefix(line: str, max_depth: int | None = None) -> tuple[int, int]:
    """Return the length and the number of the blockquote markers starting a line."""
    length = depth = 0
    while max_depth is None or depth < max_depth:
        marker = _QUOTE_MARKER.match(line, length)
        if marker is None:
            break
        length = marker.end()
        depth += 1
    return length, depth


def _is_grapheme_boundary(text: str, index: int) -> bool:
    """Return whether a cut before text[index] keeps every grapheme cluster whole.

    This follows the extended grapheme cluster rules of Unicode Standard Annex
    #29, which keep emoji ZWJ sequences, variation selectors, skin-tone
    modifiers, flag pairs, keycaps, combining marks and Hangul syllables whole.
    """
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if before == _CR and after == _LF:
        return False
    if _is_control(before) or _is_control(after):
        return True
    if _joins_hangul(before, after):
        return False
    if _is_extend(after) or before in _PREPEND:
        return False
    if before == _ZWJ and _is_pictographic(after):
        return False
    if _is_regional_indicator(before) and _is_regional_indicator(after):
        # Flags are pairs, so count the indicators before this one.
        count = 0
        position = index - 1
        while position >= 0 and _is_regional_indicator(text[position]):
            count += 1
            position -= 1
        return count % 2 == 0
    return True


def _is_control(char: str) -> bool:
    if char in (_CR, _LF):
        return True
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp"):
        return True
    # Format characters break clusters, except joiners, tags and Prepend ones.
    return (
        category == "Cf"
        and char not in ("\u200c", _ZWJ)
        and not _is_tag(char)
        and char not in _PREPEND
    )


def _is_extend(char: str) -> bool:
    """Return whether a character joins the cluster before it (Extend, ZWJ, Mc)."""
    if char in ("\u200c", _ZWJ, "\uff9e", "\uff9f") or _is_tag(char):
        return True
    if "\U0001f3fb" <= char <= "\U0001f3ff":  # skin-tone modifiers
        return True
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def _is_tag(char: str) -> bool:
    # Tags spell out subdivision flags such as England's.
    return "\U000e0020" <= char <= "\U000e007f"


def _is_regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def _is_pictographic(char: str) -> bool:
    # NOTE: an approximation of Extended_Pictographic by its blocks, because
    # unicodedata does not expose that property. It only decides whether a ZWJ
    # joins the next character, where a wider match keeps more text together.
    code = ord(char)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x1FC00 <= code <= 0x1FFFD
        or 0x2600 <= code <= 0x27BF
        or 0x2190 <= code <= 0x21FF
        or 0x2300 <= code <= 0x23FF
        or 0x25A0 <= code <= 0x25FF
        or 0x2B00 <= code <= 0x2BFF
        or code in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x24C2)
        or code in (0x2934, 0x2935, 0x3030, 0x303D, 0x3297, 0x3299)
    )


def _joins_hangul(before: str, after: str) -> bool:
    first, second = _hangul_type(before), _hangul_type(after)
    if first == "L":
        return second in ("L", "V", "LV", "LVT")
    if first in ("LV", "V"):
        return second in ("V", "T")
    if first in ("LVT", "T"):
        return second == "T"
    return False


def _hangul_type(char: str) -> str:
    code = ord(char)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""
