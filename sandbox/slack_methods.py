"""Workspace methods of the Slack sandbox and the table of its Web API methods.

This module serves auth.test, users.info, users.list, team.info, bots.info,
the user group methods and bookmarks.add.

apps.connections.open is missing from the table because it needs the Socket
Mode server, so SlackSandbox handles it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sandbox import slack_chat, slack_conversations
from sandbox.slack_params import ApiCall, Handler, SlackError, paginate
from sandbox.slack_store import TEAM_DOMAIN, TEAM_ID, TEAM_NAME

_EMOJI_TAG = re.compile(r":[a-z0-9_+'-]+:")


def auth_test(call: ApiCall) -> dict[str, Any]:
    bot = call.workspace.bot
    return {
        "url": f"{call.base_url}/",
        "team": TEAM_NAME,
        "user": bot.name,
        "team_id": TEAM_ID,
        "user_id": bot.id,
        "bot_id": bot.bot_id,
        "is_enterprise_install": False,
    }


def users_info(call: ApiCall) -> dict[str, Any]:
    user = call.workspace.users.get(call.text("user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user.as_json()}


def users_list(call: ApiCall) -> dict[str, Any]:
    members = [user.as_json() for user in call.workspace.users.values()]
    page, next_cursor = paginate(call, members, default=1000, maximum=1000)
    return {
        "members": page,
        "cache_ts": int(time.time()),
        "response_metadata": {"next_cursor": next_cursor},
    }


def team_info(call: ApiCall) -> dict[str, Any]:
    if call.has("team") and call.text("team") != TEAM_ID:
        raise SlackError("team_not_found")
    return {
        "team": {
            "id": TEAM_ID,
            "name": TEAM_NAME,
            "domain": TEAM_DOMAIN,
            "email_domain": "",
            "icon": {"image_default": True},
        }
    }


def bots_info(call: ApiCall) -> dict[str, Any]:
    user = call.workspace.user_by_bot_id(call.text("bot"))
    if user is None:
        raise SlackError("bot_not_found")
    return {"bot": user.bot_json()}


def usergroups_list(call: ApiCall) -> dict[str, Any]:
    include_users = call.flag("include_users")
    include_count = call.flag("include_count")
    groups = [
        group.as_json(include_users=include_users, include_count=include_count)
        for group in call.workspace.usergroups.values()
    ]
    return {"usergroups": groups}


def usergroups_users_list(call: ApiCall) -> dict[str, Any]:
    group = call.workspace.usergroups.get(call.text("usergroup"))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.users)}


def bookmarks_add(call: ApiCall) -> dict[str, Any]:
    channel = call.channel("channel_id")
    title = call.text("title")
    if not title:
        raise SlackError("invalid_arguments")
    if call.text("type") != "link":
        raise SlackError("invalid_bookmark_type")
    link = call.text("link")
    if not link.startswith(("http://", "https://")):
        raise SlackError("invalid_link")
    emoji = call.text("emoji") or None
    if emoji is not None and not _EMOJI_TAG.fullmatch(emoji):
        raise SlackError("invalid_emoji")
    bookmark = {
        "id": call.workspace.new_id("Bk"),
        "channel_id": channel.id,
        "title": title,
        "link": link,
        "emoji": emoji,
        "icon_url": None,
        "type": "link",
        "entity_id": None,
        "date_created": int(time.time()),
        "date_updated": 0,
        "rank": chr(ord("a") + len(channel.bookmarks) % 26),
        "last_updated_by_user_id": call.caller,
        "last_updated_by_team_id": TEAM_ID,
        "shortcut_id": None,
        "app_id": None,
    }
    channel.bookmarks.append(bookmark)
    return {"bookmark": dict(bookmark)}


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "bookmarks.add": bookmarks_add,
    "bots.info": bots_info,
    "team.info": team_info,
    "usergroups.list": usergroups_list,
    "usergroups.users.list": usergroups_users_list,
    "users.info": users_info,
    "users.list": users_list,
    **slack_chat.METHODS,
    **slack_conversations.METHODS,
}
