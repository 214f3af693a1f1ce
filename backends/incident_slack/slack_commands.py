"""Translation of Slack slash commands into the bot's chat commands."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def command_text(
    payload: Mapping[str, Any], prefix: str, commands: Mapping[str, str]
) -> str | None:
    """Return the chat command a slash command payload runs, or None if unknown.

    commands maps slash commands to chat commands, as the settings do. With
    {"/inc": "incident"} and prefix "!", "/inc declare S2 Checkout errors"
    returns "!incident declare S2 Checkout errors".
    """
    command = commands.get(slash_name(payload))
    if command is None:
        return None
    text = str(payload.get("text", "")).strip()
    return f"{prefix}{command} {text}" if text else f"{prefix}{command}"


def slash_name(payload: Mapping[str, Any]) -> str:
    """Return the slash command of a payload, such as "/inc"."""
    return str(payload.get("command", "")).strip().lower()


def has_command(loaded: Iterable[str], command: str) -> bool:
    """Say whether a loaded plugin offers the chat command or its subcommands.

    Errbot names a subcommand "pd trigger" as "pd_trigger".
    """
    return any(name == command or name.startswith(command + "_") for name in loaded)


def unknown_slash_command(payload: Mapping[str, Any], known: Iterable[str]) -> str:
    """Return the reply to a slash command the settings do not map."""
    names = ", ".join(sorted(known)) or "none"
    return (
        f"{slash_name(payload)} is not one of the bot's slash commands ({names}). "
        "Add it under [slack] slash_commands in the bot's settings, or remove "
        "it from the Slack app."
    )


def missing_command(payload: Mapping[str, Any], command: str) -> str:
    """Return the reply to a slash command whose chat command no plugin offers."""
    return (
        f"{slash_name(payload)} runs `{command}`, but no loaded plugin offers "
        f"that command. Ask the bot's operator to load the plugin with `{command}` "
        f"commands, or map {slash_name(payload)} to another command under "
        "[slack] slash_commands."
    )
