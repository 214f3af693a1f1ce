"""Translation of Slack slash commands into the bot's chat commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Slash command (as configured in the Slack app) to the bot command it runs.
SLASH_COMMANDS: Mapping[str, str] = {"/incident": "incident", "/inc": "incident"}


def command_text(payload: Mapping[str, Any], prefix: str) -> str | None:
    """Return the chat command a slash command payload runs, or None if unknown.

    "/inc declare S2 Checkout errors" with prefix "!" returns
    "!incident declare S2 Checkout errors".
    """
    command = SLASH_COMMANDS.get(str(payload.get("command", "")).lower())
    if command is None:
        return None
    text = str(payload.get("text", "")).strip()
    return f"{prefix}{command} {text}" if text else f"{prefix}{command}"
