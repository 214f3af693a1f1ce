"""Time `incident update` and a pin against Errbot's `!echo`, and count requests.

Run with `make bench` (or `.venv/bin/python -m benchmarks`). It starts the
sandbox GitLab and a real Errbot with the plugins on the test backend, then
measures, on the same bot:

- the median time from a chat message arriving to the bot's reply, for
  `!echo` (Errbot's own command, the floor) and for `!incident update`;
- the median time to handle a pushpin reaction;
- how many GitLab requests each operation sends, counted by the sandbox.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from errbot.backends.test import TestBot

from sandbox.gitlab import GitLabSandbox
from tests.chat import Chat

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def requests_of(sandbox: GitLabSandbox, action: Callable[[], object]) -> int:
    before = len(sandbox.requests)
    action()
    return len(sandbox.requests) - before


def ask(chat: Chat, user: str, text: str) -> str:
    """Send a command and return the first reply, without waiting for more."""
    chat.send(user, "!" + text)
    return str(chat.testbot.pop_message(timeout=30))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="runs per operation")
    options = parser.parse_args()

    sandbox = GitLabSandbox()
    sandbox.start()
    data_dir = tempfile.mkdtemp(prefix="incident-bench-")
    bot = TestBot(
        extra_plugin_dir=str(ROOT / "plugins"),
        loglevel=logging.WARNING,
        extra_config={
            "GITLAB_URL": sandbox.url,
            "GITLAB_TOKEN": sandbox.token,
            "INCIDENT_SETTINGS": str(ROOT / "settings.example.toml"),
            "INCIDENT_CHAT_MARKUP": "slack",
            "BOT_EXTRA_STORAGE_PLUGINS_DIR": str(ROOT / "storage"),
            "STORAGE": "SQLite",
            "BOT_DATA_DIR": data_dir,
        },
    )
    bot.start(timeout=10)
    logging.getLogger().setLevel(logging.WARNING)
    try:
        chat = Chat(bot)
        counts = {
            "declare (labels missing)": requests_of(
                sandbox, lambda: ask(chat, "alice", "incident declare S2 Benchmark")
            )
        }
        other = Chat(bot, channel="C0BENCH0002")
        counts["declare (labels present)"] = requests_of(
            sandbox, lambda: ask(other, "alice", "incident declare S2 Benchmark two")
        )
        counts["update"] = requests_of(
            sandbox, lambda: ask(chat, "alice", "incident update counting")
        )
        counts["mitigate"] = requests_of(
            sandbox, lambda: ask(other, "alice", "incident mitigate")
        )
        ts = chat.send("carol", "a message to pin")
        counts["pin"] = requests_of(sandbox, lambda: chat.react("bob", "pushpin", ts))
        counts["unpin"] = requests_of(
            sandbox, lambda: chat.react("bob", "pushpin", ts, added=False)
        )

        echo = timed(lambda: ask(chat, "alice", "echo hello"), options.rounds)
        update = timed(
            lambda: ask(chat, "alice", "incident update still rolling back"),
            options.rounds,
        )

        def pin() -> None:
            message = chat.send("carol", "replica lag back under 5 s")
            chat.react("bob", "pushpin", message)

        pins = timed(pin, options.rounds)
    finally:
        bot.stop()
        sandbox.stop()

    print(
        f"machine: {platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, rounds: {options.rounds}"
    )
    print()
    print("| operation | median (ms) | GitLab requests |")
    print("| --- | ---: | ---: |")
    print(f"| `!echo` | {statistics.median(echo) * 1000:.1f} | 0 |")
    print(
        f"| `!incident update` | {statistics.median(update) * 1000:.1f} "
        f"| {counts['update']} |"
    )
    print(
        f"| pushpin reaction | {statistics.median(pins) * 1000:.1f} | {counts['pin']} |"
    )
    for name in (
        "declare (labels missing)",
        "declare (labels present)",
        "unpin",
        "mitigate",
    ):
        print(f"| {name} | | {counts[name]} |")


if __name__ == "__main__":
    main()
