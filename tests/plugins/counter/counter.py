"""Test plugin whose one command keeps a running total in plugin storage."""

from errbot import BotPlugin, botcmd


class Counter(BotPlugin):
    """Count calls of !count across bot restarts."""

    @botcmd
    def count(self, msg, args):
        """Add one to the stored total and reply with the new total."""
        total = self.get("total", 0) + 1
        self["total"] = total
        return str(total)
