"""Replay a recorded incident channel, event by event, through the real bot.

A replay file contains one JSON event per line: messages, commands and reactions
in one incident channel, with their UTC times. The expected file next to it
is the state the incident issue must end in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tests.chat import slack_ts

REPLAYS = Path(__file__).resolve().parent / "replays"


class ChatDriver(Protocol):
    """The chat interface that play() and the end-state checks use.

    tests/chat.py's Chat implements it on Errbot's test backend, and
    tests/slack_chat.py's SlackChat through the Slack emulator.
    """

    now: datetime

    @property
    def plugin(self) -> Any: ...

    def at(self, when: datetime | str) -> None: ...

    def send(self, user: str, text: str, *, ts: str | None = None) -> str: ...

    def command(self, user: str, text: str, *, ts: str | None = None) -> str: ...

    def react(self, user: str, emoji: str, ts: str) -> None: ...


@dataclass
class ReplayRun:
    """What happened while a replay ran: replies per line and message stamps."""

    name: str
    events: list[dict[str, Any]]
    expected: dict[str, Any]
    ts_by_line: dict[int, str] = field(default_factory=dict)
    replies: dict[int, str] = field(default_factory=dict)


def load(name: str) -> ReplayRun:
    lines = (REPLAYS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    expected = json.loads((REPLAYS / f"{name}.expected.json").read_text("utf-8"))
    return ReplayRun(name, events, expected)


def play(
    run: ReplayRun,
    chat: ChatDriver,
    *,
    start: int = 0,
    stop: int | None = None,
    after_event: Callable[[int], None] | None = None,
) -> None:
    """Feed events [start, stop) to the bot, waiting for each command's reply."""
    end = len(run.events) if stop is None else stop
    for line in range(start, end):
        event = run.events[line]
        chat.at(event["at"])
        if event["kind"] == "reaction":
            target = run.ts_by_line[event["target"]]
            chat.react(event["user"], event["emoji"], target)
        elif event["kind"] == "command":
            ts = _next_ts(chat, run, line)
            run.replies[line] = chat.command(event["user"], event["text"], ts=ts)
            run.ts_by_line[line] = ts
        else:
            ts = _next_ts(chat, run, line)
            chat.send(event["user"], event["text"], ts=ts)
            run.ts_by_line[line] = ts
        if after_event is not None:
            after_event(line)


def _next_ts(chat: ChatDriver, run: ReplayRun, line: int) -> str:
    return slack_ts(chat.now, line + 1)
