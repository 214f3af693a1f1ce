"""Text for Slack posts: the bot's own markup, sent as written.

errbot-backend-slackv3 runs every post through a Markdown converter. It
decodes HTML entities once, so "&lt;!channel&gt;", which a plugin wrote to
show someone's typed "<!channel>" as text, reached Slack as a live @channel
mention. It also read "*" and "_" in people's text as emphasis, so
"/tmp/*.log" lost its asterisk. The plugins write Slack markup themselves.
"""

from __future__ import annotations


class PlainText:
    """A converter for the stock backend's `md` slot that changes nothing."""

    def convert(self, text: str) -> str:
        return text
