"""Command arguments as people type them in chat, straight or curly quotes.

Chat clients turn typed quotes into curly ones, so “...” and ‘...’ group words
just like "..." and '...'. Backslashes have no special meaning.
"""

from __future__ import annotations

# Opening quote -> the closing quote that ends the group.
_QUOTE_PAIRS = {'"': '"', "“": "”", "'": "'", "‘": "’"}

# These double as apostrophes (don't, don’t, rock 'n' roll), so they open a group
# only at the start of a word and close it only at the end of one.
_APOSTROPHE_QUOTES = {"'", "‘"}


def split_args(text: str) -> list[str]:
    """Split command arguments on white space, keeping quoted groups together.

    A quoted group joins the word it touches (`title="db down"` is one argument,
    `title=db down`), and `""` is an empty argument. Raises ValueError for a
    quote that is never closed.
    """
    args: list[str] = []
    word: list[str] = []
    in_word = False
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            if in_word:
                args.append("".join(word))
                word = []
                in_word = False
            index += 1
            continue

        if _opens_group(char, in_word):
            close = _find_close(text, index)
            word.append(text[index + 1 : close])
            in_word = True
            index = close + 1
            continue

        word.append(char)
        in_word = True
        index += 1

    if in_word:
        args.append("".join(word))
    return args


def split_first(text: str) -> tuple[str, str]:
    """Split text into its first word and the rest, which is kept verbatim.

    Both ends of the rest are stripped. Quotes are not interpreted, so
    `split_first('title "db down"')` returns `("title", '"db down"')`.
    """
    parts = text.split(maxsplit=1)
    if not parts:
        return "", ""
    if len(parts) == 1:
        return parts[0], ""
    return parts[0], parts[1].rstrip()


def strip_quotes(text: str) -> str:
    """Remove one pair of matching quotes around the whole text, if present.

    Surrounding white space is not stripped, so `' "x" '` is returned as it is.
    """
    if len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
        return text[1:-1]
    return text


def _opens_group(char: str, in_word: bool) -> bool:
    if char not in _QUOTE_PAIRS:
        return False
    return not (char in _APOSTROPHE_QUOTES and in_word)


def _find_close(text: str, start: int) -> int:
    opening = text[start]
    closing = _QUOTE_PAIRS[opening]
    index = text.find(closing, start + 1)
    if opening in _APOSTROPHE_QUOTES:
        # Skip apostrophes inside words: 'don't panic' closes after "panic".
        while index != -1 and index + 1 < len(text) and text[index + 1].isalnum():
            index = text.find(closing, index + 1)
    if index == -1:
        raise ValueError(
            f"unclosed quote {opening} at character {start + 1} of {text!r}: "
            f"add the closing {closing} or remove the {opening}"
        )
    return index
