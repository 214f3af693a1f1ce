"""Keep text the bot escaped for Slack escaped through the Markdown converter.

errbot-backend-slackv3 runs every post through a Markdown converter that
decodes HTML entities once, so "&lt;!channel&gt;", which a plugin wrote to
show someone's typed "<!channel>" as text, reached Slack as a live @channel
mention. Slack reads any <...> as a mention, channel or link, so every such
sequence the converter made from entities is escaped again.
"""

from __future__ import annotations

import re
from typing import Any

# A Slack control sequence (<@U…>, <!here>, <#C…>, <https://…|label>), or
# a lone angle bracket.
CONTROL = re.compile(r"<[^<>\n]*>|[<>]")


def keep_escaped(original: str, converted: str) -> str:
    """Escape the angle brackets in converted text that original did not contain.

    Control sequences the plugin wrote on purpose, such as <@U0ALICE001>, pass
    unchanged; those the converter decoded from &lt;...&gt;, and lone brackets,
    are escaped again.
    """
    intended = {text for text in CONTROL.findall(original) if len(text) > 1}

    def escape(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in intended:
            return text
        return text.replace("<", "&lt;").replace(">", "&gt;")

    return CONTROL.sub(escape, converted)


class SafeConverter:
    """A Markdown converter whose output has no <...> its input did not have."""

    def __init__(self, converter: Any) -> None:
        self.converter = converter

    def convert(self, text: str) -> str:
        return keep_escaped(text, str(self.converter.convert(text)))
