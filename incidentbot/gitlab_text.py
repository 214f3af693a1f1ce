"""GitLab Markdown notes built from text that people wrote in chat."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from incidentbot.times import format_utc

# U+2060 WORD JOINER renders as nothing, and `@<joiner>all` is no mention.
WORD_JOINER = "\u2060"

# GitLab runs a quick action on a line that starts with `/command`. Its
# extractor deletes every `\r` first, so `\r` counts as leading white space too.
_QUICK_ACTION = re.compile(r"^([^\S\n]*)/", re.MULTILINE)

# GitLab's mention pattern rejects an `@` after an ASCII word character (Ruby's
# `\w`), which is why `bob@example.com` is no mention. A user or group path
# may start with a letter, digit, `_` or `.`.
_MENTION = re.compile(r"(?<![A-Za-z0-9_])@(?=[A-Za-z0-9_.])")

# A `<` that starts an HTML tag, closing tag, comment or declaration.
_HTML_OPENER = re.compile(r"<(?=[A-Za-z/!?])")


def inert(text: str) -> str:
    """Make text inert in GitLab Markdown, so it runs no quick action and no mention.

    A backslash goes before the `/` that starts a line, after any white space,
    so `/close` renders as written but does not run. A word joiner goes after
    the `@` of each mention (`@all`, `@bob`, `@group/sub`). All other characters
    are kept, except that a `<` that would open an HTML tag or comment (`<b>`,
    `</x>`, `<!--`, `<!channel>`) is written as `&lt;`. GitLab's sanitizer
    would drop such a tag, and a comment could hide text or fake the bot's
    section markers. Lines inside code blocks are changed too, where the
    backslash shows.
    """
    # NOTE: code blocks are not skipped, because which blocks GitLab's quick
    # action extractor skips is a regex that is not CommonMark and differs
    # between GitLab versions. A path like /usr/bin at a line start in a code
    # block therefore shows as \/usr/bin.
    escaped = _QUICK_ACTION.sub(r"\1\\/", text)
    escaped = _HTML_OPENER.sub("&lt;", escaped)
    return defuse_mentions(escaped)


def defuse_mentions(text: str) -> str:
    """Put a word joiner after the `@` of each mention, so nobody is notified.

    Issue titles need only this, since GitLab runs no quick actions in them.
    """
    return _MENTION.sub("@" + WORD_JOINER, text)


def quote(text: str) -> str:
    """Quote text in Markdown: `> ` before each line, and `>` for an empty one."""
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def pinned_note(
    author: str,
    posted_at: datetime,
    text: str,
    files: Sequence[str] = (),
    *,
    internal: bool = False,
) -> str:
    """Build the note that copies a pinned chat message onto an issue.

    The note has a header with the author and the UTC date and time, the quoted
    text, and a line naming the attached files, which stay in Slack. `internal`
    marks the header of a copy posted as an internal note. Raises ValueError
    when there is neither text nor a file name, so no empty note is posted.
    """
    if isinstance(files, str):
        raise TypeError(
            f"files must be a sequence of file names, got the string {files!r}: "
            "wrap a single name in a list"
        )
    names = [inert(name.strip()) for name in files if name.strip()]
    body = text.strip("\r\n")
    if not body.strip() and not names:
        raise ValueError("the message has no text or attachments to copy")

    header = f"**{_author(author)}** — {format_utc(posted_at)}"
    if internal:
        header += " (internal)"
    sections = [header]
    if body.strip():
        sections.append(quote(inert(body)))
    if names:
        # A blank line before it keeps this line out of the blockquote, because
        # Markdown would otherwise continue the quote lazily.
        sections.append("Attachments kept in Slack: " + ", ".join(names))
    return "\n\n".join(sections)


def status_note(author: str, at: datetime, text: str) -> str:
    """Build the note for a status update: a header line, a blank line, the text.

    Raises ValueError when the text is blank.
    """
    body = text.strip()
    if not body:
        raise ValueError(
            "the status update has no text: write the new status after the command"
        )
    return f"**Status update** by {_author(author)} — {format_utc(at)}\n\n{inert(body)}"


def _author(author: str) -> str:
    # Display names can contain any character. White space is collapsed so the
    # name cannot break the header line.
    name = " ".join(author.split())
    if not name:
        raise ValueError("the author is blank: pass the person's display name")
    return inert(name)
