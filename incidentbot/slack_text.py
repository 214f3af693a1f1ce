"""Slack message text: decoding what arrives and escaping what the bot posts.

Slack's wire format escapes only `&`, `<` and `>` (as `&amp;`, `&lt;`, `&gt;`)
and wraps links, mentions and dates in `<...>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from incidentbot.times import format_utc

# U+2060 WORD JOINER renders as nothing, and `@<joiner>here` is no mention.
WORD_JOINER = "\u2060"

# Markup starts with @ (user), # (channel), ! (special mention, group or date)
# or a URL scheme. Any other `<...>` is left as text, because Slack escapes the
# `<` that people type and so never sends it.
_MARKUP = re.compile(r"<([@#!][^<>]*|[A-Za-z][A-Za-z0-9+.-]*:[^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SPECIAL_MENTIONS = ("here", "channel", "everyone")
_MENTION = re.compile(r"@(?=\w)")
_SKIN_TONE = re.compile(r"::skin-tone-[0-9]+$")

NameLookup = Callable[[str], str | None]


def decode(
    text: str,
    *,
    user_name: NameLookup = lambda _: None,
    group_name: NameLookup = lambda _: None,
) -> str:
    """Decode Slack wire text once into what the person typed.

    `user_name` and `group_name` map a user id (U123) or user group id (S123) to
    a display name, or return None when the name is unknown.
    """
    pieces: list[str] = []
    position = 0
    for markup in _MARKUP.finditer(text):
        pieces.append(_unescape(text[position : markup.start()]))
        pieces.append(_decode_markup(markup[1], user_name, group_name))
        position = markup.end()
    pieces.append(_unescape(text[position:]))
    return "".join(pieces)


def escape(text: str) -> str:
    """Escape text for posting to Slack so that it shows as written.

    `&`, `<` and `>` become entities, so no `<!here>` or `<@U123>` stays live.
    A word joiner goes after every `@` that starts a word (`@here`, `@all`,
    `@bob`), because posting with link_names turns such words into mentions.
    Escaping twice adds more entities but never makes a mention live.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub("@" + WORD_JOINER, escaped)


def message_text(event: Mapping[str, Any]) -> str:
    """Return the text of a Slack message event, in Slack's wire format.

    The sources, first non-blank wins: the message `text`, then the attachments,
    then the blocks. Each attachment gives one field, the first non-blank of
    `text` (the body), `title`, `pretext` (a lead-in above the attachment) and
    `fallback` (the plain-text summary for notifications, so it comes last).
    Attachment fields are joined by newlines with repeats left out. The result is
    escaped like `text`, so pass it to decode() to get what people read.
    """
    text = _string(event.get("text"))
    if text.strip():
        return text

    attachments_text = "\n".join(_attachment_fields(event.get("attachments")))
    if attachments_text.strip():
        return attachments_text

    return "\n".join(_blocks_text(event.get("blocks")))


def file_names(event: Mapping[str, Any]) -> list[str]:
    """Return the names of the files attached to a Slack message event.

    Each file gives its `name`, else its `title`, else its id. Files with none
    of these are left out.
    """
    names: list[str] = []
    for file in _dicts(event.get("files")):
        for key in ("name", "title", "id"):
            name = _string(file.get(key)).strip()
            if name:
                names.append(name)
                break
    return names


def base_reaction(name: str) -> str:
    """Drop a skin-tone suffix: `raised_hand::skin-tone-4` -> `raised_hand`."""
    return _SKIN_TONE.sub("", name)


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda entity: _ENTITY_CHARS[entity[1]], text)


def _decode_markup(inner: str, user_name: NameLookup, group_name: NameLookup) -> str:
    target, separator, raw_label = inner.partition("|")
    target = _unescape(target)
    label = _unescape(raw_label) if separator else ""

    if target.startswith("@"):
        user_id = target[1:]
        return "@" + (user_name(user_id) or label.removeprefix("@") or user_id)
    if target.startswith("#"):
        return "#" + (label.removeprefix("#") or target[1:])
    if target.startswith("!"):
        return _decode_command(target[1:], label, group_name)
    return _decode_link(target, label)


def _decode_command(command: str, label: str, group_name: NameLookup) -> str:
    kind, _, argument = command.partition("^")
    if kind in _SPECIAL_MENTIONS:
        return "@" + kind
    if kind == "subteam":
        group_id = argument.partition("^")[0]
        name = group_name(group_id)
        if name:
            return "@" + name.removeprefix("@")
        if label:
            return label if label.startswith("@") else "@" + label
        return "@" + (group_id or kind)
    if kind == "date":
        # The label is Slack's required fallback text. Without one, show the
        # timestamp in UTC rather than lose the time.
        return label or _format_timestamp(argument.partition("^")[0]) or command
    return label or "@" + kind


def _decode_link(url: str, label: str) -> str:
    if url.startswith("mailto:"):
        address = url.removeprefix("mailto:")
        if not label or label in (address, url):
            return address
        return f"{label} ({address})"
    if not label or _same_link(label, url):
        return url
    return f"{label} ({url})"


def _same_link(label: str, url: str) -> bool:
    # Slack labels auto-linked URLs with the URL as typed, often without the
    # scheme or with a trailing slash of its own.
    def normalize(link: str) -> str:
        return _URL_SCHEME.sub("", link, count=1).removesuffix("/")

    return label == url or normalize(label) == normalize(url)


def _format_timestamp(seconds: str) -> str:
    try:
        return format_utc(datetime.fromtimestamp(int(seconds), UTC))
    except (ValueError, OverflowError, OSError):
        return ""


def _attachment_fields(attachments: object) -> list[str]:
    fields: list[str] = []
    for attachment in _dicts(attachments):
        for key in ("text", "title", "pretext", "fallback"):
            value = _string(attachment.get(key))
            if value.strip():
                if value not in fields:
                    fields.append(value)
                break
    return fields


def _blocks_text(blocks: object) -> list[str]:
    lines: list[str] = []
    for block in _dicts(blocks):
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.extend(
                _text_objects([block.get("text"), *_list(block.get("fields"))])
            )
        elif kind == "context":
            lines.extend(_text_objects(_list(block.get("elements"))))
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements")))
    return [line for line in lines if line.strip()]


def _text_objects(objects: list[object]) -> list[str]:
    """Return the texts of Block Kit text objects, escaping plain_text ones."""
    texts: list[str] = []
    for item in objects:
        if not isinstance(item, Mapping):
            continue
        text = _string(item.get("text"))
        if item.get("type") == "plain_text":
            text = _escape_entities(text)
        texts.append(text)
    return texts


def _rich_text(elements: object) -> str:
    # Sections carry their own newlines. Lists, quotes and code blocks start and
    # end on a line of their own.
    text = ""
    for element in _dicts(elements):
        kind = element.get("type")
        if kind == "rich_text_section":
            text += _inline(element.get("elements"))
            continue
        if text and not text.endswith("\n"):
            text += "\n"
        if kind == "rich_text_list":
            text += _rich_list(element)
        elif kind == "rich_text_preformatted":
            text += "```" + _inline(element.get("elements")) + "```"
        elif kind == "rich_text_quote":
            quoted = _inline(element.get("elements")).split("\n")
            text += "\n".join("&gt; " + line for line in quoted)
    return text


def _rich_list(element: Mapping[str, Any]) -> str:
    indent = "    " * _int(element.get("indent"))
    ordered = element.get("style") == "ordered"
    start = _int(element.get("offset")) + 1
    items: list[str] = []
    for number, item in enumerate(_dicts(element.get("elements")), start=start):
        marker = f"{number}." if ordered else "•"
        items.append(f"{indent}{marker} {_inline(item.get('elements'))}")
    return "\n".join(items)


def _inline(elements: object) -> str:
    return "".join(_inline_element(element) for element in _dicts(elements))


def _inline_element(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind == "text":
        return _escape_entities(_string(element.get("text")))
    if kind == "link":
        url = _string(element.get("url"))
        label = _escape_entities(_string(element.get("text")))
        return f"<{url}|{label}>" if label else f"<{url}>"
    if kind == "user":
        return f"<@{_string(element.get('user_id'))}>"
    if kind == "channel":
        return f"<#{_string(element.get('channel_id'))}>"
    if kind == "usergroup":
        return f"<!subteam^{_string(element.get('usergroup_id'))}>"
    if kind == "broadcast":
        return f"<!{_string(element.get('range'))}>"
    if kind == "emoji":
        tone = element.get("skin_tone")
        suffix = f"::skin-tone-{tone}" if isinstance(tone, int) else ""
        return f":{_string(element.get('name'))}{suffix}:"
    if kind == "date":
        return _rich_date(element)
    if kind == "color":
        return _string(element.get("value"))
    return ""


def _rich_date(element: Mapping[str, Any]) -> str:
    markup = f"<!date^{_int(element.get('timestamp'))}^{_string(element.get('format'))}"
    fallback = _escape_entities(_string(element.get("fallback")))
    return f"{markup}|{fallback}>" if fallback else markup + ">"


def _escape_entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [item for item in _list(value) if isinstance(item, Mapping)]
