"""The Slack sandbox, driven by slack_sdk's WebClient and SocketModeClient."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from sandbox.slack import SlackSandbox

ALICE = "U0ALICE001"
BOB = "U0BOB00001"
INCIDENTS = "C0INCIDENT"  # public, the bot and Alice are members
GENERAL = "C0GENERAL1"  # public, the bot is not a member
SECRET = "C0SECRET01"  # private, only Bob is a member


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    sandbox = SlackSandbox()
    sandbox.start()
    sandbox.add_user(ALICE, "alice", real_name="Alice Archer", email="a@example.org")
    sandbox.add_user(BOB, "bob", real_name="Bob Baker")
    sandbox.add_channel(INCIDENTS, "incidents", members=[sandbox.bot_user_id, ALICE])
    sandbox.add_channel(GENERAL, "general", members=[ALICE, BOB])
    sandbox.add_channel(SECRET, "secret", members=[BOB], is_private=True)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def web(slack: SlackSandbox) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def error_of(call: Any, *args: Any, **kwargs: Any) -> str:
    """Return the Slack error code of a call that must fail."""
    with pytest.raises(SlackApiError) as raised:
        call(*args, **kwargs)
    error: str = raised.value.response["error"]
    return error


class Bot:
    """A Socket Mode client that records what it receives and acks envelopes."""

    def __init__(self, slack: SlackSandbox, *, ack: bool = True) -> None:
        self.frames: list[dict[str, Any]] = []
        self.requests: list[SocketModeRequest] = []
        self.received = threading.Condition()
        self.client = SocketModeClient(
            app_token=slack.app_token,
            web_client=WebClient(base_url=slack.api_url),
        )
        self.client.message_listeners.append(self._on_message)
        self.client.socket_mode_request_listeners.append(self._on_request)
        self.ack = ack

    def _on_message(self, client: Any, message: dict[str, Any], raw: Any) -> None:
        with self.received:
            self.frames.append(message)
            self.received.notify_all()

    def _on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        if self.ack:
            client.send_socket_mode_response(
                SocketModeResponse(envelope_id=request.envelope_id)
            )
        with self.received:
            self.requests.append(request)
            self.received.notify_all()

    def close(self, slack: SlackSandbox) -> None:
        """Close the client without waiting for its 3 s socket read timeout.

        The builtin client's close() waits for its reader thread, which
        blocks in recv() until data arrives or 3 s pass, so the sandbox
        closes the connection first.
        """
        self.client.auto_reconnect_enabled = False
        slack.disconnect_all(send_disconnect=False)
        # The message processor also blocks for 1 s on an empty queue. A
        # None item wakes it without running listeners, and it stops at
        # once because closed is set.
        self.client.closed = True
        self.client.message_queue.put(None)
        self.client.close()

    def request(self, envelope_id: str, timeout: float = 2.0) -> SocketModeRequest:
        def find() -> SocketModeRequest | None:
            for request in self.requests:
                if request.envelope_id == envelope_id:
                    return request
            return None

        with self.received:
            found = self.received.wait_for(find, timeout)
        assert found is not None, f"the client never received {envelope_id}"
        return found

    def event(self, envelope_id: str) -> dict[str, Any]:
        event: dict[str, Any] = self.request(envelope_id).payload["event"]
        return event


@pytest.fixture
def bot(slack: SlackSandbox) -> Iterator[Bot]:
    client = Bot(slack)
    client.client.connect()
    slack.wait_for_connection()
    yield client
    client.close(slack)


# Authentication and transport


def test_auth_test_identity(slack: SlackSandbox, web: WebClient) -> None:
    response = web.auth_test()

    assert response["user_id"] == "U0BOT00001"
    assert response["bot_id"] == "B0BOT00001"
    assert response["user"] == "incident-bot"
    assert response["team_id"] == slack.team_id
    assert response["url"] == f"{slack.url}/"
    assert "chat:write" in response.headers["x-oauth-scopes"].split(",")


def test_wrong_or_missing_token(slack: SlackSandbox) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    missing = WebClient(base_url=slack.api_url)

    assert error_of(wrong.auth_test) == "invalid_auth"
    assert error_of(missing.auth_test) == "not_authed"


def test_token_types_per_method(slack: SlackSandbox, web: WebClient) -> None:
    app = WebClient(token=slack.app_token, base_url=slack.api_url)

    app_posting = error_of(app.chat_postMessage, channel=INCIDENTS, text="x")
    bot_connecting = error_of(web.apps_connections_open, app_token=slack.bot_token)
    opened = web.apps_connections_open(app_token=slack.app_token)

    assert app_posting == "not_allowed_token_type"
    assert bot_connecting == "not_allowed_token_type"
    assert opened["url"].startswith("ws://127.0.0.1:")
    assert "ticket=" in opened["url"]


def test_form_token_and_json_body(slack: SlackSandbox) -> None:
    form = requests.post(
        f"{slack.api_url}auth.test", data={"token": slack.bot_token}, timeout=5
    )
    json_token = requests.post(
        f"{slack.api_url}auth.test", json={"token": slack.bot_token}, timeout=5
    )
    json_bearer = requests.post(
        f"{slack.api_url}chat.postMessage",
        json={"channel": INCIDENTS, "text": "from JSON"},
        headers={"Authorization": f"Bearer {slack.bot_token}"},
        timeout=5,
    )

    assert form.status_code == 200
    assert form.json()["ok"] is True
    # Slack reads no token from a JSON body.
    assert json_token.json() == {"ok": False, "error": "not_authed"}
    assert json_bearer.json()["ok"] is True
    assert slack.messages(INCIDENTS)[0]["text"] == "from JSON"


def test_unknown_method_recorded(slack: SlackSandbox, web: WebClient) -> None:
    error = error_of(web.api_call, "files.frobnicate", params={"x": "1"})

    assert error == "unknown_method"
    assert slack.unknown_methods == ["files.frobnicate"]
    assert slack.calls == [("files.frobnicate", {"x": "1"})]


def test_calls_record_arguments(slack: SlackSandbox, web: WebClient) -> None:
    web.auth_test()
    web.users_info(user=ALICE)
    web.chat_postMessage(channel=INCIDENTS, text="one")

    assert [method for method, _ in slack.calls] == [
        "auth.test",
        "users.info",
        "chat.postMessage",
    ]
    assert slack.calls_to("users.info") == [{"user": ALICE}]
    assert slack.calls_to("chat.postMessage") == [{"channel": INCIDENTS, "text": "one"}]
    assert slack.unknown_methods == []


# Injected failures


def test_fail_next_with_error_code(slack: SlackSandbox, web: WebClient) -> None:
    slack.fail_next("chat.postMessage", "fatal_error", times=2)

    first = error_of(web.chat_postMessage, channel=INCIDENTS, text="a")
    second = error_of(web.chat_postMessage, channel=INCIDENTS, text="b")
    third = web.chat_postMessage(channel=INCIDENTS, text="c")
    other = web.auth_test()

    assert first == "fatal_error"
    assert second == "fatal_error"
    assert third["ok"] is True
    assert other["ok"] is True
    assert [message["text"] for message in slack.messages(INCIDENTS)] == ["c"]


def test_fail_next_429_retry_after(slack: SlackSandbox, web: WebClient) -> None:
    slack.fail_next("users.info", 429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        web.users_info(user=ALICE)
    response = raised.value.response

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response["error"] == "ratelimited"
    assert web.users_info(user=ALICE)["user"]["id"] == ALICE


def test_429_retried_by_client(slack: SlackSandbox) -> None:
    slack.fail_next("auth.test", 429, retry_after=0)
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )

    response = client.auth_test()

    assert response["ok"] is True
    assert [method for method, _ in slack.calls] == ["auth.test", "auth.test"]


def test_fail_next_server_error(slack: SlackSandbox, web: WebClient) -> None:
    slack.fail_next("*", 503)
    slack.fail_next("auth.test", "invalid_auth", times=5)
    slack.fail_next("auth.test", "invalid_auth", times=0)

    with pytest.raises(SlackApiError) as raised:
        web.team_info()

    assert raised.value.response.status_code == 503
    assert web.auth_test()["ok"] is True


# Users, team, bots and user groups


def test_users_info_and_errors(web: WebClient) -> None:
    user = web.users_info(user=ALICE)["user"]

    assert user["name"] == "alice"
    assert user["real_name"] == "Alice Archer"
    assert user["profile"]["display_name"] == "alice"
    assert user["profile"]["real_name"] == "Alice Archer"
    assert user["profile"]["email"] == "a@example.org"
    assert user["team_id"] == "T0TEAM0001"
    assert user["is_bot"] is False
    assert error_of(web.users_info, user="U0NOBODY00") == "user_not_found"


def test_users_list_paginates(web: WebClient) -> None:
    ids = []
    cursor = None
    pages = 0
    while cursor != "":
        response = web.users_list(limit=2, cursor=cursor)
        ids += [member["id"] for member in response["members"]]
        cursor = response["response_metadata"]["next_cursor"]
        pages += 1

    assert ids == ["U0BOT00001", ALICE, BOB]
    assert pages == 2
    assert error_of(web.users_list, cursor="bm9wZQ==") == "invalid_cursor"


def test_team_and_bot_info(slack: SlackSandbox, web: WebClient) -> None:
    team = web.team_info()["team"]
    bot = web.bots_info(bot=slack.bot_id)["bot"]

    assert team["id"] == slack.team_id
    assert team["domain"] == "sandbox"
    assert error_of(web.team_info, team="T0OTHER001") == "team_not_found"
    assert bot["user_id"] == slack.bot_user_id
    assert bot["name"] == "incident-bot"
    assert error_of(web.bots_info, bot="B0NOBODY00") == "bot_not_found"


def test_bot_user_is_a_bot(slack: SlackSandbox, web: WebClient) -> None:
    user = web.users_info(user=slack.bot_user_id)["user"]

    assert user["is_bot"] is True
    assert user["profile"]["bot_id"] == slack.bot_id


def test_usergroups(slack: SlackSandbox, web: WebClient) -> None:
    slack.add_usergroup("S0ONCALL01", "oncall", users=[ALICE, BOB])

    groups = web.usergroups_list(include_users=True)["usergroups"]
    users = web.usergroups_users_list(usergroup="S0ONCALL01")["users"]

    assert [group["handle"] for group in groups] == ["oncall"]
    assert groups[0]["users"] == [ALICE, BOB]
    assert users == [ALICE, BOB]
    assert error_of(web.usergroups_users_list, usergroup="S0NONE0001") == (
        "no_such_subteam"
    )


# Conversations


def test_conversations_info_visibility(web: WebClient) -> None:
    incidents = web.conversations_info(channel=INCIDENTS)["channel"]
    general = web.conversations_info(channel=GENERAL)["channel"]

    assert incidents["name"] == "incidents"
    assert incidents["is_member"] is True
    assert incidents["topic"] == {"value": "", "creator": "", "last_set": 0}
    assert general["is_member"] is False
    # A private channel the bot is not in looks missing, as on Slack.
    assert error_of(web.conversations_info, channel=SECRET) == "channel_not_found"
    assert error_of(web.conversations_info, channel="C0NOWHERE0") == (
        "channel_not_found"
    )


def test_conversations_list_types(slack: SlackSandbox, web: WebClient) -> None:
    slack.add_channel("C0OPS00001", "ops", members=[slack.bot_user_id], is_private=True)

    public = web.conversations_list()["channels"]
    both = web.conversations_list(types="public_channel,private_channel")["channels"]

    assert [channel["name"] for channel in public] == ["incidents", "general"]
    assert [channel["name"] for channel in both] == ["incidents", "general", "ops"]
    assert error_of(web.conversations_list, types="rooms") == "invalid_types"


def test_conversations_create_names(web: WebClient) -> None:
    created = web.conversations_create(name="inc-42_db")["channel"]
    private = web.conversations_create(name="inc-43", is_private=True)["channel"]
    longest = web.conversations_create(name="a" * 80)["channel"]

    assert created["name"] == "inc-42_db"
    assert created["id"].startswith("C")
    assert created["is_member"] is True
    assert private["is_private"] is True
    assert longest["name"] == "a" * 80
    assert error_of(web.conversations_create, name="inc-42_db") == "name_taken"
    assert error_of(web.conversations_create, name="Inc-44") == "invalid_name_specials"
    assert error_of(web.conversations_create, name="inc 44") == "invalid_name_specials"
    assert error_of(web.conversations_create, name="a" * 81) == "invalid_name_maxlength"
    assert error_of(web.conversations_create, name="--") == "invalid_name_punctuation"
    assert error_of(web.conversations_create, name="") == "invalid_name_required"


def test_conversations_join(web: WebClient) -> None:
    joined = web.conversations_join(channel=GENERAL)
    again = web.conversations_join(channel=GENERAL)

    assert joined["channel"]["is_member"] is True
    assert "warning" not in joined
    assert again["warning"] == "already_in_channel"
    assert error_of(web.conversations_join, channel=SECRET) == "channel_not_found"


def test_conversations_invite(slack: SlackSandbox, web: WebClient) -> None:
    invited = web.conversations_invite(channel=INCIDENTS, users=[BOB])

    assert BOB in web.conversations_members(channel=INCIDENTS)["members"]
    assert invited["channel"]["id"] == INCIDENTS
    assert error_of(web.conversations_invite, channel=INCIDENTS, users=BOB) == (
        "already_in_channel"
    )
    assert error_of(
        web.conversations_invite, channel=INCIDENTS, users="U0NOBODY00"
    ) == ("user_not_found")
    assert error_of(
        web.conversations_invite, channel=INCIDENTS, users=slack.bot_user_id
    ) == ("cant_invite_self")
    assert error_of(web.conversations_invite, channel=GENERAL, users=BOB) == (
        "not_in_channel"
    )
    # errbot-backend-slackv3 0.3.2 sends "user", which Slack does not read.
    assert error_of(
        web.api_call, "conversations.invite", params={"channel": INCIDENTS, "user": BOB}
    ) == ("no_user")


def test_set_topic(web: WebClient) -> None:
    response = web.conversations_setTopic(channel=INCIDENTS, topic="SEV2: DB down")
    info = web.conversations_info(channel=INCIDENTS)["channel"]

    assert response["channel"]["topic"]["value"] == "SEV2: DB down"
    assert info["topic"]["value"] == "SEV2: DB down"
    assert info["topic"]["creator"] == "U0BOT00001"
    assert error_of(web.conversations_setTopic, channel=INCIDENTS, topic="x" * 251) == (
        "too_long"
    )
    assert error_of(web.conversations_setTopic, channel=GENERAL, topic="x") == (
        "not_in_channel"
    )


def test_members_and_user_conversations(slack: SlackSandbox, web: WebClient) -> None:
    first = web.conversations_members(channel=GENERAL, limit=1)
    rest = web.conversations_members(
        channel=GENERAL, cursor=first["response_metadata"]["next_cursor"]
    )
    alice_channels = web.users_conversations(user=ALICE)["channels"]
    bot_channels = web.users_conversations()["channels"]

    assert first["members"] == [ALICE]
    assert rest["members"] == [BOB]
    assert rest["response_metadata"]["next_cursor"] == ""
    assert [channel["id"] for channel in alice_channels] == [INCIDENTS, GENERAL]
    assert [channel["id"] for channel in bot_channels] == [INCIDENTS]


def test_archive_blocks_posting(web: WebClient) -> None:
    web.conversations_archive(channel=INCIDENTS)

    info = web.conversations_info(channel=INCIDENTS)["channel"]
    posting = error_of(web.chat_postMessage, channel=INCIDENTS, text="late")
    again = error_of(web.conversations_archive, channel=INCIDENTS)
    listed = web.conversations_list(exclude_archived=True)["channels"]

    assert info["is_archived"] is True
    assert posting == "is_archived"
    assert again == "already_archived"
    assert [channel["id"] for channel in listed] == [GENERAL]
    assert error_of(web.conversations_join, channel=INCIDENTS) == "is_archived"


def test_direct_message_channel(slack: SlackSandbox, web: WebClient) -> None:
    opened = web.conversations_open(users=ALICE)
    again = web.conversations_open(users=[ALICE])
    posted = web.chat_postMessage(channel=opened["channel"]["id"], text="psst")
    by_user_id = web.chat_postMessage(channel=ALICE, text="psst again")

    assert opened["channel"]["id"].startswith("D")
    assert again["channel"]["id"] == opened["channel"]["id"]
    assert again["already_open"] is True
    assert by_user_id["channel"] == opened["channel"]["id"]
    assert len(slack.messages(posted["channel"])) == 2
    assert error_of(web.conversations_open, users=slack.bot_user_id) == "cannot_dm_bot"


# Messages


def test_post_message_result_and_record(slack: SlackSandbox, web: WebClient) -> None:
    first = web.chat_postMessage(
        channel=INCIDENTS, text="Declared <@U0ALICE001>", link_names=True
    )
    second = web.chat_postMessage(channel="#incidents", text="two", unfurl_links=False)

    stored = slack.messages(INCIDENTS)

    assert first["channel"] == INCIDENTS
    assert first["message"]["text"] == "Declared <@U0ALICE001>"
    assert first["message"]["user"] == slack.bot_user_id
    assert first["message"]["bot_id"] == slack.bot_id
    assert first["message"]["ts"] == first["ts"]
    assert second["channel"] == INCIDENTS
    assert float(second["ts"]) > float(first["ts"])
    assert len(first["ts"].split(".")[1]) == 6
    assert [message["ts"] for message in stored] == [first["ts"], second["ts"]]
    assert stored[0]["link_names"] is True
    assert "unfurl_links" not in stored[0]
    assert stored[1]["unfurl_links"] is False
    assert stored[0]["user"] == slack.bot_user_id


def test_post_message_form_options(slack: SlackSandbox, web: WebClient) -> None:
    # errbot-backend-slackv3 sends blocks as a JSON string and flags as
    # strings; the sandbox stores the flags exactly as they came.
    web.api_call(
        "chat.postMessage",
        params={
            "channel": INCIDENTS,
            "text": "fallback",
            "blocks": json.dumps([{"type": "section", "text": {"type": "mrkdwn"}}]),
            "link_names": "1",
        },
    )

    stored = slack.messages(INCIDENTS)[0]

    assert stored["blocks"] == [{"type": "section", "text": {"type": "mrkdwn"}}]
    assert stored["link_names"] == "1"


def test_post_message_errors(web: WebClient) -> None:
    def post(**arguments: Any) -> str:
        return error_of(web.chat_postMessage, **arguments)

    assert post(channel=GENERAL, text="x") == "not_in_channel"
    assert post(channel=SECRET, text="x") == "channel_not_found"
    assert post(channel="C0NOWHERE0", text="x") == "channel_not_found"
    with pytest.warns(UserWarning, match="`text` argument is missing"):
        assert post(channel=INCIDENTS, text="") == "no_text"
    assert post(channel=INCIDENTS, text="x" * 40_001) == "msg_too_long"
    assert post(channel=INCIDENTS, text="x", thread_ts="0") == "invalid_thread_ts"
    assert post(channel=INCIDENTS, text="x", blocks="[{") == "invalid_blocks_format"
    assert post(channel=INCIDENTS, text="x", blocks=[{"text": "x"}]) == (
        "invalid_blocks"
    )


def test_post_message_at_limit(slack: SlackSandbox, web: WebClient) -> None:
    response = web.chat_postMessage(channel=INCIDENTS, text="x" * 40_000)

    assert response["ok"] is True
    assert len(slack.messages(INCIDENTS)[0]["text"]) == 40_000


def test_threads_and_replies(slack: SlackSandbox, web: WebClient) -> None:
    parent = slack.post_as(ALICE, INCIDENTS, "DB is down", deliver=False)
    first = web.chat_postMessage(channel=INCIDENTS, text="on it", thread_ts=parent)
    second = slack.post_as(ALICE, INCIDENTS, "thanks", thread_ts=parent, deliver=False)

    thread = web.conversations_replies(channel=INCIDENTS, ts=parent)["messages"]
    from_reply = web.conversations_replies(channel=INCIDENTS, ts=second)["messages"]
    history = web.conversations_history(channel=INCIDENTS)["messages"]

    assert [message["ts"] for message in thread] == [parent, first["ts"], second]
    assert thread[0]["reply_count"] == 2
    assert thread[0]["reply_users"] == [slack.bot_user_id, ALICE]
    assert thread[0]["latest_reply"] == second
    assert thread[1]["thread_ts"] == parent
    assert thread[1]["parent_user_id"] == ALICE
    assert [message["ts"] for message in from_reply] == [parent, first["ts"], second]
    assert [message["ts"] for message in history] == [parent]
    assert slack.messages(INCIDENTS)[1]["thread_ts"] == parent
    assert error_of(web.conversations_replies, channel=INCIDENTS, ts="1.000001") == (
        "thread_not_found"
    )


def test_history_window_and_pages(slack: SlackSandbox, web: WebClient) -> None:
    ts = [slack.post_as(ALICE, INCIDENTS, f"m{n}", deliver=False) for n in range(5)]

    def texts(**arguments: Any) -> list[str]:
        response = web.conversations_history(channel=INCIDENTS, **arguments)
        return [message["text"] for message in response["messages"]]

    first_page = web.conversations_history(channel=INCIDENTS, limit=2)
    second_page = web.conversations_history(
        channel=INCIDENTS,
        limit=2,
        cursor=first_page["response_metadata"]["next_cursor"],
    )

    assert texts() == ["m4", "m3", "m2", "m1", "m0"]
    assert texts(latest=ts[3], oldest=ts[1]) == ["m2"]
    assert texts(latest=ts[3], oldest=ts[1], inclusive=True) == ["m3", "m2", "m1"]
    assert [m["text"] for m in first_page["messages"]] == ["m4", "m3"]
    assert first_page["has_more"] is True
    assert [m["text"] for m in second_page["messages"]] == ["m2", "m1"]
    assert error_of(web.conversations_history, channel=INCIDENTS, latest="soon") == (
        "invalid_ts_latest"
    )
    assert error_of(web.conversations_history, channel=GENERAL) == "not_in_channel"


def test_update_message(slack: SlackSandbox, web: WebClient) -> None:
    posted = web.chat_postMessage(channel=INCIDENTS, text="Status: investigating")
    person = slack.post_as(ALICE, INCIDENTS, "mine", deliver=False)

    updated = web.chat_update(channel=INCIDENTS, ts=posted["ts"], text="Status: fixed")
    stored = slack.messages(INCIDENTS)[0]

    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "Status: fixed"
    assert updated["message"]["edited"]["user"] == slack.bot_user_id
    assert stored["text"] == "Status: fixed"
    assert stored["edits"][0]["previous_text"] == "Status: investigating"
    assert error_of(web.chat_update, channel=INCIDENTS, ts=person, text="x") == (
        "cant_update_message"
    )
    assert error_of(web.chat_update, channel=INCIDENTS, ts="1.000001", text="x") == (
        "message_not_found"
    )


def test_post_ephemeral(slack: SlackSandbox, web: WebClient) -> None:
    response = web.chat_postEphemeral(channel=INCIDENTS, user=ALICE, text="only you")

    assert response["message_ts"]
    assert slack.ephemeral_messages(INCIDENTS)[0]["text"] == "only you"
    assert slack.ephemeral_messages(INCIDENTS)[0]["user"] == ALICE
    assert slack.messages(INCIDENTS) == []
    assert error_of(web.chat_postEphemeral, channel=INCIDENTS, user=BOB, text="x") == (
        "user_not_in_channel"
    )


def test_delete_message(slack: SlackSandbox, web: WebClient) -> None:
    posted = web.chat_postMessage(channel=INCIDENTS, text="oops")

    deleted = web.chat_delete(channel=INCIDENTS, ts=posted["ts"])
    history = web.conversations_history(channel=INCIDENTS)["messages"]

    assert deleted["ts"] == posted["ts"]
    assert history == []
    assert slack.messages(INCIDENTS)[0]["deleted"] is True


def test_permalinks(slack: SlackSandbox, web: WebClient) -> None:
    parent = web.chat_postMessage(channel=INCIDENTS, text="parent")
    reply = web.chat_postMessage(
        channel=INCIDENTS, text="reply", thread_ts=parent["ts"]
    )

    top = web.chat_getPermalink(channel=INCIDENTS, message_ts=parent["ts"])
    nested = web.chat_getPermalink(channel=INCIDENTS, message_ts=reply["ts"])

    digits = parent["ts"].replace(".", "")
    assert top["permalink"] == f"{slack.url}/archives/{INCIDENTS}/p{digits}"
    assert nested["permalink"].endswith(f"?thread_ts={parent['ts']}&cid={INCIDENTS}")
    assert error_of(
        web.chat_getPermalink, channel=INCIDENTS, message_ts="1.000001"
    ) == ("message_not_found")


def test_reactions(slack: SlackSandbox, web: WebClient) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, "DB is down", deliver=False)

    web.reactions_add(channel=INCIDENTS, timestamp=ts, name="eyes")
    duplicate = error_of(
        web.reactions_add, channel=INCIDENTS, timestamp=ts, name="eyes"
    )
    reacted = slack.messages(INCIDENTS)[0]["reactions"]
    web.reactions_remove(channel=INCIDENTS, timestamp=ts, name="eyes")
    missing = error_of(
        web.reactions_remove, channel=INCIDENTS, timestamp=ts, name="eyes"
    )

    assert reacted == [{"name": "eyes", "users": [slack.bot_user_id], "count": 1}]
    assert duplicate == "already_reacted"
    assert missing == "no_reaction"
    assert slack.messages(INCIDENTS)[0]["reactions"] == []
    assert error_of(
        web.reactions_add, channel=INCIDENTS, timestamp=ts, name=":eyes:"
    ) == ("invalid_name")
    assert error_of(
        web.reactions_add, channel=INCIDENTS, timestamp="1.000001", name="eyes"
    ) == ("message_not_found")


def test_bookmarks_add(slack: SlackSandbox, web: WebClient) -> None:
    link = "https://gitlab.example.org/infra/production/-/issues/1"

    added = web.bookmarks_add(
        channel_id=INCIDENTS, title="Incident issue", type="link", link=link
    )["bookmark"]

    assert added["channel_id"] == INCIDENTS
    assert added["title"] == "Incident issue"
    assert added["link"] == link
    assert slack.bookmarks(INCIDENTS) == [added]
    assert error_of(
        web.bookmarks_add, channel_id=INCIDENTS, title="x", type="link", link="ftp://x"
    ) == ("invalid_link")
    assert error_of(
        web.bookmarks_add, channel_id=INCIDENTS, title="x", type="file", link=link
    ) == ("invalid_bookmark_type")


# Socket Mode


def test_client_connects_and_acks_event(slack: SlackSandbox, bot: Bot) -> None:
    event = {"type": "app_mention", "user": ALICE, "text": "<@U0BOT00001> hi"}

    envelope_id = slack.deliver_event(event, event_id="Ev0TEST0001")
    request = bot.request(envelope_id)
    delay = slack.wait_for_ack(envelope_id, timeout=1.0)

    assert [method for method, _ in slack.calls] == ["apps.connections.open"]
    assert bot.frames[0]["type"] == "hello"
    assert request.type == "events_api"
    assert request.retry_attempt == 0
    assert request.retry_reason == ""
    assert request.accepts_response_payload is False
    assert request.payload["type"] == "event_callback"
    assert request.payload["event"] == event
    assert request.payload["event_id"] == "Ev0TEST0001"
    assert request.payload["team_id"] == slack.team_id
    assert request.payload["api_app_id"] == slack.app_id
    assert isinstance(request.payload["event_time"], int)
    assert 0 <= delay < 1.0
    assert slack.acks[0]["envelope_id"] == envelope_id
    assert slack.unexpected_frames == []


def test_retried_envelope_fields(slack: SlackSandbox, bot: Bot) -> None:
    envelope_id = slack.deliver_event(
        {"type": "message", "text": "x"}, retry_attempt=1, retry_reason="timeout"
    )

    request = bot.request(envelope_id)

    assert request.retry_attempt == 1
    assert request.retry_reason == "timeout"


def test_slash_command_and_response_url(slack: SlackSandbox, bot: Bot) -> None:
    envelope_id = slack.deliver_slash_command(
        "/incident", "declare DB down", ALICE, INCIDENTS
    )
    request = bot.request(envelope_id)
    slack.wait_for_ack(envelope_id, timeout=1.0)
    payload = request.payload

    reply = WebhookClient(payload["response_url"]).send(text="Declared")

    assert request.type == "slash_commands"
    assert payload["command"] == "/incident"
    assert payload["text"] == "declare DB down"
    assert payload["user_id"] == ALICE
    assert payload["user_name"] == "alice"
    assert payload["channel_id"] == INCIDENTS
    assert payload["channel_name"] == "incidents"
    assert payload["team_id"] == slack.team_id
    assert payload["trigger_id"]
    assert payload["response_url"].startswith(f"{slack.url}/commands/")
    assert reply.status_code == 200
    assert slack.responses == [
        {"envelope_id": envelope_id, "body": {"text": "Declared"}}
    ]


def test_post_as_delivers_message(slack: SlackSandbox, bot: Bot) -> None:
    parent = slack.post_as(ALICE, INCIDENTS, "DB is down")
    reply = slack.post_as(ALICE, INCIDENTS, "still down", thread_ts=parent)

    top_event = bot.event(slack.envelopes[0]["envelope_id"])
    reply_event = bot.event(slack.envelopes[1]["envelope_id"])

    assert top_event["type"] == "message"
    assert "subtype" not in top_event
    assert top_event["channel"] == INCIDENTS
    assert top_event["channel_type"] == "channel"
    assert top_event["user"] == ALICE
    assert top_event["text"] == "DB is down"
    assert top_event["ts"] == parent
    assert top_event["event_ts"] == parent
    assert "thread_ts" not in top_event
    assert reply_event["ts"] == reply
    assert reply_event["thread_ts"] == parent
    assert reply_event["parent_user_id"] == ALICE
    assert [message["text"] for message in slack.messages(INCIDENTS)] == [
        "DB is down",
        "still down",
    ]


def test_post_as_with_chosen_ts(slack: SlackSandbox, bot: Bot, web: WebClient) -> None:
    chosen = slack.post_as(ALICE, INCIDENTS, "DB is down", ts="1598886780.000002")
    later = slack.post_as(ALICE, INCIDENTS, "still down")
    short = slack.post_as(ALICE, INCIDENTS, "old", ts="1598886790.5", deliver=False)
    other_channel = slack.post_as(ALICE, GENERAL, "x", ts=chosen, deliver=False)

    event = bot.event(slack.envelopes[0]["envelope_id"])
    history = web.conversations_history(channel=INCIDENTS)["messages"]

    assert chosen == "1598886780.000002"
    assert event["ts"] == chosen
    assert event["event_ts"] == chosen
    assert short == "1598886790.500000"
    assert other_channel == chosen
    assert [message["ts"] for message in history] == [later, short, chosen]
    with pytest.raises(ValueError, match="is taken"):
        slack.post_as(ALICE, INCIDENTS, "again", ts=chosen, deliver=False)
    with pytest.raises(ValueError, match="invalid message ts 'yesterday'"):
        slack.post_as(ALICE, INCIDENTS, "x", ts="yesterday", deliver=False)
    assert len(slack.messages(INCIDENTS)) == 3


def test_react_as_delivers_reactions(slack: SlackSandbox, bot: Bot) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, "DB is down", deliver=False)

    added_id = slack.react_as(ALICE, INCIDENTS, ts, "pushpin")
    reactions = slack.messages(INCIDENTS)[0]["reactions"]
    removed_id = slack.react_as(ALICE, INCIDENTS, ts, "pushpin", added=False)
    added = bot.event(added_id)
    removed = bot.event(removed_id)

    assert added["type"] == "reaction_added"
    assert added["user"] == ALICE
    assert added["reaction"] == "pushpin"
    assert added["item"] == {"type": "message", "channel": INCIDENTS, "ts": ts}
    assert added["item_user"] == ALICE
    assert float(added["event_ts"]) > float(ts)
    assert reactions == [{"name": "pushpin", "users": [ALICE], "count": 1}]
    assert removed["type"] == "reaction_removed"
    assert slack.messages(INCIDENTS)[0]["reactions"] == []
    with pytest.raises(ValueError, match="has no :pushpin: reaction"):
        slack.react_as(ALICE, INCIDENTS, ts, "pushpin", added=False)


def test_edit_as_delivers_message_changed(slack: SlackSandbox, bot: Bot) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, "declare DB down", deliver=False)

    envelope_id = slack.edit_as(ALICE, INCIDENTS, ts, "declare DB down sev1")
    event = bot.event(envelope_id)

    assert event["type"] == "message"
    assert event["subtype"] == "message_changed"
    assert event["channel"] == INCIDENTS
    assert event["message"]["ts"] == ts
    assert event["message"]["text"] == "declare DB down sev1"
    assert event["message"]["user"] == ALICE
    assert event["message"]["edited"] == {"user": ALICE, "ts": event["event_ts"]}
    assert event["previous_message"]["text"] == "declare DB down"
    assert "edited" not in event["previous_message"]
    assert slack.messages(INCIDENTS)[0]["edits"][0]["previous_text"] == (
        "declare DB down"
    )
    with pytest.raises(ValueError, match="only its author"):
        slack.edit_as(BOB, INCIDENTS, ts, "not mine")


def test_deliver_without_client(slack: SlackSandbox) -> None:
    with pytest.raises(RuntimeError, match="no Socket Mode client"):
        slack.deliver_event({"type": "message"})
    with pytest.raises(RuntimeError, match="no Socket Mode client"):
        slack.post_as(ALICE, INCIDENTS, "hello")

    assert slack.messages(INCIDENTS) == []


def test_missing_ack_names_envelope(slack: SlackSandbox) -> None:
    silent = Bot(slack, ack=False)
    silent.client.connect()
    try:
        slack.wait_for_connection()
        envelope_id = slack.deliver_event({"type": "message", "text": "x"})
        silent.request(envelope_id)

        with pytest.raises(AssertionError, match=envelope_id):
            slack.wait_for_ack(envelope_id, timeout=0.2)
    finally:
        silent.close(slack)


def test_disconnect_all_reconnects(slack: SlackSandbox, bot: Bot) -> None:
    closed = slack.disconnect_all()
    slack.wait_for_connection(total=2)

    envelope_id = slack.deliver_event({"type": "message", "text": "after"})

    assert closed == 1
    assert slack.calls_to("apps.connections.open") == [{}, {}]
    assert bot.event(envelope_id)["text"] == "after"
    assert slack.wait_for_ack(envelope_id, timeout=1.0) < 1.0


def test_unknown_ticket_rejected(slack: SlackSandbox) -> None:
    url = WebClient(token=slack.app_token, base_url=slack.api_url)
    ticket_url = url.apps_connections_open(app_token=slack.app_token)["url"]
    with connect(ticket_url) as first:
        hello = first.recv(timeout=2)

    with pytest.raises(InvalidStatus) as raised, connect(ticket_url):
        pass

    assert '"type": "hello"' in str(hello)
    assert raised.value.response.status_code == 401


def test_own_events_delivered() -> None:
    sandbox = SlackSandbox(deliver_own_events=True)
    sandbox.start()
    try:
        sandbox.add_user(ALICE, "alice")
        sandbox.add_channel(INCIDENTS, "incidents", members=[sandbox.bot_user_id])
        client = Bot(sandbox)
        client.client.connect()
        sandbox.wait_for_connection()
        web = WebClient(token=sandbox.bot_token, base_url=sandbox.api_url)

        posted = web.chat_postMessage(channel=INCIDENTS, text="hello")
        web.conversations_invite(channel=INCIDENTS, users=ALICE)
        message = client.event(sandbox.envelopes[0]["envelope_id"])
        joined = client.event(sandbox.envelopes[1]["envelope_id"])
        client.close(sandbox)
    finally:
        sandbox.stop()

    assert message["type"] == "message"
    assert message["ts"] == posted["ts"]
    assert message["bot_id"] == sandbox.bot_id
    assert message["user"] == sandbox.bot_user_id
    assert joined["type"] == "member_joined_channel"
    assert joined["user"] == ALICE
    assert joined["channel"] == INCIDENTS


# Control routes for people acting from another process


def control(slack: SlackSandbox, route: str, **body: Any) -> requests.Response:
    """Send a request to a control route: POST with a JSON body, or a GET."""
    url = f"{slack.url}/sandbox/{route}"
    if route.startswith("messages"):
        return requests.get(url, timeout=5)
    return requests.post(url, json=body, timeout=5)


def test_control_say_posts_as_person(slack: SlackSandbox, bot: Bot) -> None:
    response = control(slack, "say", user="@alice", channel="#incidents", text="hi")
    body = response.json()

    event = bot.event(slack.envelopes[0]["envelope_id"])
    assert response.status_code == 200
    assert body["ok"] is True
    assert body["kind"] == "message"
    assert body["channel"] == INCIDENTS
    assert body["cursor"] == body["ts"]
    assert event["user"] == ALICE
    assert event["text"] == "hi"
    assert event["ts"] == body["ts"]
    assert [m["text"] for m in slack.messages(INCIDENTS)] == ["hi"]


def test_control_say_in_thread(slack: SlackSandbox, bot: Bot) -> None:
    parent = slack.post_as(ALICE, INCIDENTS, "DB is down")

    body = control(
        slack, "say", user="alice", channel=INCIDENTS, text="still", thread_ts=parent
    ).json()

    assert slack.messages(INCIDENTS)[1]["thread_ts"] == parent
    assert body["ts"] == slack.messages(INCIDENTS)[1]["ts"]


def test_control_say_slash_command(slack: SlackSandbox, bot: Bot) -> None:
    body = control(
        slack, "say", user="alice", channel="incidents", text="/Incident declare  DB"
    ).json()

    request = bot.request(slack.envelopes[0]["envelope_id"])
    assert body["kind"] == "slash_command"
    assert request.type == "slash_commands"
    assert request.payload["command"] == "/incident"
    assert request.payload["text"] == "declare  DB"
    assert request.payload["user_id"] == ALICE
    assert slack.messages(INCIDENTS) == []


def test_control_joins_public_channel(
    slack: SlackSandbox, bot: Bot, web: WebClient
) -> None:
    # Bob is not in #incidents; Slack's message box lets him join to post.
    response = control(slack, "say", user="bob", channel="incidents", text="here")

    assert response.status_code == 200
    assert BOB in web.conversations_members(channel=INCIDENTS)["members"]
    assert slack.messages(INCIDENTS)[0]["user"] == BOB


def test_control_private_channel_needs_invite(slack: SlackSandbox, bot: Bot) -> None:
    response = control(slack, "say", user="alice", channel="secret", text="hi")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "is not a member of C0SECRET01" in response.json()["detail"]
    assert slack.messages(SECRET) == []


def test_control_react(slack: SlackSandbox, bot: Bot) -> None:
    ts = slack.post_as(ALICE, INCIDENTS, "Rolled back")

    added = control(
        slack, "react", user="alice", channel="incidents", ts=ts, name=":pushpin:"
    )
    removed = control(
        slack,
        "react",
        user="alice",
        channel="incidents",
        ts=ts,
        name="pushpin",
        remove=True,
    )

    events = [bot.event(envelope["envelope_id"]) for envelope in slack.envelopes[1:]]
    assert added.status_code == 200
    assert removed.status_code == 200
    assert [e["type"] for e in events] == ["reaction_added", "reaction_removed"]
    assert events[0]["reaction"] == "pushpin"
    assert events[0]["item"]["ts"] == ts


def test_control_messages_after_cursor(
    slack: SlackSandbox, bot: Bot, web: WebClient
) -> None:
    web.chat_postMessage(channel=INCIDENTS, text="before")
    cursor = control(slack, "say", user="alice", channel="incidents", text="x").json()[
        "cursor"
    ]
    web.chat_postMessage(channel=INCIDENTS, text="a &lt;reply&gt;")
    web.chat_postEphemeral(channel=INCIDENTS, user=ALICE, text="only you")

    body = control(slack, f"messages?after={cursor}").json()
    later = control(slack, f"messages?after={body['cursor']}").json()

    assert [m["text"] for m in body["messages"]] == ["a &lt;reply&gt;", "only you"]
    reply, ephemeral = body["messages"]
    assert reply["channel_name"] == "#incidents"
    assert reply["user_name"] == "incident-bot"
    assert reply["is_bot"] is True
    assert reply["ephemeral_to"] is None
    assert ephemeral["ephemeral_to"] == "alice"
    assert later["messages"] == []


def test_control_rejections_name_the_fix(slack: SlackSandbox) -> None:
    cases = [
        (
            control(slack, "say", user="dave", channel="incidents", text="x"),
            404,
            "user_not_found",
            "no person 'dave' in the sandbox; use one of: alice, bob",
        ),
        (
            control(slack, "say", user="alice", channel="ops", text="x"),
            404,
            "channel_not_found",
            "no channel 'ops' in the sandbox; use one of: #general, #incidents, "
            "#secret",
        ),
        (
            control(slack, "say", user="alice", channel="incidents", text=" "),
            400,
            "missing_argument",
            "'text' is missing or empty in the request",
        ),
        (
            control(slack, "say", user="alice", channel="incidents", text="x"),
            409,
            "no_client",
            "no Socket Mode client is connected",
        ),
        (
            control(slack, "messages?after=yesterday"),
            400,
            "invalid_ts",
            "after='yesterday' is not a Slack timestamp",
        ),
        (
            control(slack, "shout", text="x"),
            404,
            "unknown_route",
            "the sandbox has no control route POST /sandbox/shout",
        ),
    ]

    for response, status, error, detail in cases:
        body = response.json()
        assert response.status_code == status, body
        assert body["ok"] is False
        assert body["error"] == error
        assert detail in body["detail"]


def test_control_rejects_non_json(slack: SlackSandbox) -> None:
    response = requests.post(f"{slack.url}/sandbox/say", data="text=hi", timeout=5)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_control_cannot_act_as_bot(slack: SlackSandbox) -> None:
    response = control(
        slack, "say", user=slack.bot_user_id, channel="incidents", text="x"
    )

    assert response.status_code == 404
    assert response.json()["error"] == "user_not_found"
