"""Recorded incidents replayed through Slack, Socket Mode and the real backend.

The bot runs on the IncidentSlack backend against the Slack emulator, with
the sandbox GitLab behind it. The events, the end-state checks and the
skipped commands of other plugins are those of test_replays.py, which plays
the replays through Errbot's test backend.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.gitlab import GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.slack import SlackSandbox
from tests.replay import ReplayRun, load, play
from tests.replay_followups import prepare_gitlab
from tests.replay_pages import pagerduty_config
from tests.slack_bot import assert_local_only, start_slack_bot, stop_slack_bot
from tests.slack_chat import GENERAL, MENTION, SlackChat
from tests.test_replays import REPLAY_NAMES, check_end_state

FAILURE_WORDS = ("failed", "unknown", "invalid")


def replay_people(run: ReplayRun) -> list[str]:
    """Return everybody in a replay: who acts, and who is mentioned as @name."""
    people = [event["user"] for event in run.events]
    for event in run.events:
        people += MENTION.findall(event.get("text", ""))
    return list(dict.fromkeys(people))


def check_replies(run: ReplayRun) -> None:
    """Check that every command played got a reply, and none reports a failure."""
    commands = [
        line for line, event in enumerate(run.events) if event["kind"] == "command"
    ]
    assert sorted(run.replies) == commands
    for line, reply in run.replies.items():
        assert reply, (line, run.events[line]["text"])
        for word in FAILURE_WORDS:
            assert word not in reply.lower(), (line, reply)


def check_channels(run: ReplayRun, chat: SlackChat, slack: SlackSandbox) -> None:
    """Check where people talked, and that everybody is in both channels.

    Events up to the first declare happen in the general channel, the rest in
    the incident channel the bot created.
    """
    incident = chat.plugin.store.get(incident_ref(chat))
    assert slack.channel(chat.room)["name"] == f"inc-{incident.iid}"
    for channel in (GENERAL, chat.room):
        members = set(chat.web.conversations_members(channel=channel)["members"])
        assert set(chat.user_ids.values()) <= members, channel

    declare = next(
        line
        for line, event in enumerate(run.events)
        if event["kind"] == "command" and event["text"].startswith("incident declare")
    )
    for channel, events in (
        (GENERAL, run.events[: declare + 1]),
        (chat.room, run.events[declare + 1 :]),
    ):
        posted = {message["text"] for message in slack.messages(channel)}
        for event in events:
            if event["kind"] == "reaction":
                continue
            prefix = "!" if event["kind"] == "command" else ""
            assert chat.wire(prefix + event["text"]) in posted, (channel, event)


def check_link_replies(run: ReplayRun, chat: SlackChat, slack: SlackSandbox) -> None:
    """Check the bot's thread replies to pasted links: one per follow-up linked.

    A link pasted again, and a merge request link, get no reply.
    """
    posts = [
        message
        for message in slack.messages(chat.room)
        if message["user"] == slack.bot_user_id
    ]

    def replies_to(line: int) -> list[str]:
        ts = run.ts_by_line[line]
        return [post["text"] for post in posts if post.get("thread_ts") == ts]

    followups = run.expected["followups"]
    for item in followups["linked"]:
        linked = replies_to(item["linked_from_line"])
        assert len(linked) == 1, linked
        assert linked[0].startswith(f"Linked {item['ref']} as a follow-up of "), linked
        for line in item["pasted_again_on_lines"]:
            assert replies_to(line) == [], line
    for item in followups["not_followups"]:
        assert replies_to(item["line"]) == [], item


def incident_ref(chat: SlackChat) -> str:
    ref = chat.plugin.store.bound_ref(chat.room)
    assert ref is not None, f"channel {chat.room} runs no incident"
    return str(ref)


@pytest.mark.parametrize("name", REPLAY_NAMES)
def test_slack_replay_end_state(
    name: str,
    slack: SlackSandbox,
    gitlab_sandbox: GitLabSandbox,
    pagerduty_sandbox: PagerDutySandbox,
    data_dir: Path,
    hosts: list[str],
) -> None:
    run = load(name)
    prepare_gitlab(run, gitlab_sandbox)
    paging = pagerduty_config(pagerduty_sandbox)
    bot, thread = start_slack_bot(slack, gitlab_sandbox, data_dir, overrides=paging)
    try:
        chat = SlackChat(slack, bot, replay_people(run), gitlab_url=gitlab_sandbox.url)
        play(run, chat)
        check_end_state(run, gitlab_sandbox, chat, pagerduty_sandbox)
        check_replies(run)
        check_channels(run, chat, slack)
        check_link_replies(run, chat, slack)
    finally:
        stop_slack_bot(bot, thread)
    assert_local_only(slack, hosts)


@pytest.mark.parametrize("name", REPLAY_NAMES)
def test_slack_replay_survives_restart(
    name: str,
    slack: SlackSandbox,
    gitlab_sandbox: GitLabSandbox,
    pagerduty_sandbox: PagerDutySandbox,
    data_dir: Path,
) -> None:
    run = load(name)
    prepare_gitlab(run, gitlab_sandbox)
    half = len(run.events) // 2
    people = replay_people(run)
    paging = pagerduty_config(pagerduty_sandbox)

    first, thread = start_slack_bot(slack, gitlab_sandbox, data_dir, overrides=paging)
    try:
        chat = SlackChat(slack, first, people, gitlab_url=gitlab_sandbox.url)
        play(run, chat, stop=half)
    finally:
        stop_slack_bot(first, thread)

    second, thread = start_slack_bot(
        slack, gitlab_sandbox, data_dir, connections=2, overrides=paging
    )
    try:
        restarted = SlackChat(
            slack, second, people, room=chat.room, gitlab_url=gitlab_sandbox.url
        )
        restarted.at(chat.now)
        play(run, restarted, start=half)
        check_end_state(run, gitlab_sandbox, restarted, pagerduty_sandbox)
        check_channels(run, restarted, slack)
        check_link_replies(run, restarted, slack)
    finally:
        stop_slack_bot(second, thread)
    check_replies(run)


def test_people_mentioned_are_slack_users(bot: Any, slack: SlackSandbox) -> None:
    chat = SlackChat(slack, bot, ["alice", "dave"])

    ts = chat.send("alice", "@dave see https://x.example/a?b=1&c=2 and @nobody <3")

    message = next(m for m in slack.messages(GENERAL) if m["ts"] == ts)
    assert message["text"] == (
        f"<@{chat.user_ids['dave']}> see <https://x.example/a?b=1&amp;c=2> "
        "and @nobody &lt;3"
    )
    assert re.fullmatch(r"[0-9]+\.[0-9]{6}", ts)
