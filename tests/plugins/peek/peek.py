"""Test plugin: reads the incident store through the Incident plugin."""

from errbot import BotPlugin, botcmd
from errbot.backends.base import Message


class Peek(BotPlugin):
    """Test plugin that reads incidents from the Incident plugin's store."""

    @botcmd
    def peek(self, msg: Message, args: str) -> str:
        """Show an incident's title and lead from the shared store."""
        store = self.get_plugin("Incident").store
        incident = store.get(args.strip())
        if incident is None:
            return f"no incident {args.strip()}"
        return f"{incident.title}, lead {incident.roles['lead']}"
