"""The IncidentSlack backend's channel calls and user group cache, on the sandbox."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from errbot.backends.base import RoomError
from slack_sdk import WebClient

from sandbox.slack import SlackSandbox
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "backends" / "incident_slack"))

import slack_channels
from slack_lookups import CACHE_SECONDS
from slack_usergroups import MISS_REFRESH_SECONDS, UsergroupHandles

ALICE = "U0ALICE001"
BOB = "U0BOB00001"


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    server = SlackSandbox()
    server.start()
    server.add_user(ALICE, "alice", real_name="Alice Archer")
    server.add_user(BOB, "bob", real_name="Bob Baker")
    yield server
    server.stop()


@pytest.fixture
def client(sandbox: SlackSandbox) -> WebClient:
    return WebClient(token=sandbox.bot_token, base_url=sandbox.api_url)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# Channels


def test_create_channel_returns_id(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = slack_channels.create_channel(client, "inc-1", private=True)

    assert channel_id is not None
    assert sandbox.channel(channel_id)["name"] == "inc-1"
    assert sandbox.channel(channel_id)["is_private"] is True


def test_create_taken_name_returns_none(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    sandbox.add_channel("C0OLD00001", "inc-1")

    assert slack_channels.create_channel(client, "inc-1", private=False) is None


def test_create_failure_names_error(sandbox: SlackSandbox, client: WebClient) -> None:
    with pytest.raises(
        RoomError, match="failed to create channel #INC: Slack returned"
    ):
        slack_channels.create_channel(client, "INC", private=False)


def test_invite_by_id_and_name(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = slack_channels.create_channel(client, "inc-1", private=False)
    assert channel_id is not None

    slack_channels.invite(client, channel_id, ALICE)
    slack_channels.invite(client, channel_id, "@bob")
    slack_channels.invite(client, channel_id, ALICE)
    slack_channels.invite(client, channel_id, sandbox.bot_user_id)

    members = client.conversations_members(channel=channel_id)["members"]
    assert sorted(members) == sorted([sandbox.bot_user_id, ALICE, BOB])


def test_invite_ambiguous_name(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.add_user("U0BOB00002", "bob", real_name="Another Bob")
    channel_id = slack_channels.create_channel(client, "inc-1", private=False)
    assert channel_id is not None

    with pytest.raises(RoomError, match="2 Slack users are named @bob"):
        slack_channels.invite(client, channel_id, "@bob")


def test_invite_into_archived_channel(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = slack_channels.create_channel(client, "inc-1", private=False)
    assert channel_id is not None
    client.conversations_archive(channel=channel_id)

    with pytest.raises(RoomError, match="Slack returned is_archived"):
        slack_channels.invite(client, channel_id, ALICE)


def test_edit_deleted_message(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = slack_channels.create_channel(client, "inc-1", private=False)
    assert channel_id is not None
    ts = slack_channels.post_text(client, channel_id, "card &lt;!here&gt;")

    edited = slack_channels.edit_text(client, channel_id, ts, "card v2")
    client.chat_delete(channel=channel_id, ts=ts)
    after_delete = slack_channels.edit_text(client, channel_id, ts, "card v3")

    assert edited is True
    assert after_delete is False
    message = sandbox.messages(channel_id)[0]
    assert message["text"] == "card v2"
    assert message["edits"][0]["previous_text"] == "card &lt;!here&gt;"
    assert message["link_names"] is False


def test_connection_failure_is_room_error() -> None:
    # A sandbox that has stopped leaves a loopback port nothing listens on.
    stopped = SlackSandbox()
    stopped.start()
    api_url = stopped.api_url
    stopped.stop()
    offline = WebClient(token=stopped.bot_token, base_url=api_url)

    with pytest.raises(RoomError, match="failed to set the topic of C1"):
        slack_channels.set_topic(offline, "C1", "S2 | Active")


# User groups


def test_usergroup_handles_cached(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.add_usergroup("S0DBA00001", "dba-oncall")
    clock = Clock()
    handles = UsergroupHandles(clock)

    first = handles.handle(client, "S0DBA00001")
    clock.now += CACHE_SECONDS - 1
    second = handles.handle(client, "S0DBA00001")

    assert first == "dba-oncall"
    assert second == "dba-oncall"
    assert len(sandbox.calls_to("usergroups.list")) == 1


def test_usergroup_handles_expire(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.add_usergroup("S0DBA00001", "dba-oncall")
    clock = Clock()
    handles = UsergroupHandles(clock)
    handles.handle(client, "S0DBA00001")

    clock.now += CACHE_SECONDS
    handles.handle(client, "S0DBA00001")

    assert len(sandbox.calls_to("usergroups.list")) == 2


def test_new_usergroup_found_after_miss_interval(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    clock = Clock()
    handles = UsergroupHandles(clock)
    assert handles.handle(client, "S0NEW00001") is None
    sandbox.add_usergroup("S0NEW00001", "release-managers")

    soon = handles.handle(client, "S0NEW00001")
    clock.now += MISS_REFRESH_SECONDS
    later = handles.handle(client, "S0NEW00001")

    assert soon is None
    assert later == "release-managers"
    assert len(sandbox.calls_to("usergroups.list")) == 2


def test_usergroup_list_failure_keeps_old(
    sandbox: SlackSandbox, client: WebClient, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.add_usergroup("S0DBA00001", "dba-oncall")
    clock = Clock()
    handles = UsergroupHandles(clock)
    handles.handle(client, "S0DBA00001")
    sandbox.fail_next("usergroups.list", "missing_scope")

    clock.now += CACHE_SECONDS
    handle = handles.handle(client, "S0DBA00001")

    assert handle == "dba-oncall"
    assert "Slack returned missing_scope" in caplog.text
    assert "usergroups:read" in caplog.text
