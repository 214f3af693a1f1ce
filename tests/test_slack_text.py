"""Decoding Slack wire text, escaping bot output and reading message events."""

from __future__ import annotations

import pytest

from incidentbot.slack_text import (
    base_reaction,
    decode,
    escape,
    file_names,
    message_text,
)

JOINER = "\u2060"

NAMES = {"U123": "alice", "U999": ""}
GROUPS = {"S1": "dba-oncall"}


def user_name(user_id: str) -> str | None:
    return NAMES.get(user_id)


def group_name(group_id: str) -> str | None:
    return GROUPS.get(group_id)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("<https://status.example.com>", "https://status.example.com"),
        (
            "<https://status.example.com|status.example.com>",
            "https://status.example.com",
        ),
        ("<http://example.com/|example.com>", "http://example.com/"),
        (
            "<https://status.example.com|https://status.example.com>",
            "https://status.example.com",
        ),
        (
            "<https://grafana.example.com/d/pg|lag panel>",
            "lag panel (https://grafana.example.com/d/pg)",
        ),
        ("<mailto:oncall@example.com|oncall@example.com>", "oncall@example.com"),
        ("<mailto:oncall@example.com|on-call>", "on-call (oncall@example.com)"),
        ("<@U456>", "@U456"),
        ("<@U456|bob>", "@bob"),
        ("<#C123|ops>", "#ops"),
        ("<#C123>", "#C123"),
        ("<#C123|>", "#C123"),
        ("<!here>", "@here"),
        ("<!here|here>", "@here"),
        ("<!channel>", "@channel"),
        ("<!everyone>", "@everyone"),
        ("<!subteam^S2|@web-oncall>", "@web-oncall"),
        ("<!subteam^S2|web-oncall>", "@web-oncall"),
        ("<!subteam^S2>", "@S2"),
        (
            "<!date^1392734382^{date} at {time}|Feb 18, 2014 at 6:39 AM>",
            "Feb 18, 2014 at 6:39 AM",
        ),
        ("<!date^1392734382^{date}>", "2014-02-18 14:39 UTC"),
    ],
)
def test_decode_markup(wire: str, expected: str) -> None:
    assert decode(wire) == expected


def test_decode_user_name_wins_over_label() -> None:
    assert decode("<@U123|al>", user_name=user_name) == "@alice"
    assert decode("<@U123>", user_name=user_name) == "@alice"


def test_decode_blank_user_name_uses_label() -> None:
    assert decode("<@U999|bob>", user_name=user_name) == "@bob"


def test_decode_group_name_wins_over_label() -> None:
    assert decode("<!subteam^S1|@old-name>", group_name=group_name) == "@dba-oncall"
    assert decode("<!subteam^S1>", group_name=group_name) == "@dba-oncall"


def test_decode_entities_once() -> None:
    assert decode("p95 &gt; 2s &amp; climbing") == "p95 > 2s & climbing"
    assert decode("&amp;amp; &amp;lt;") == "&amp; &lt;"
    assert decode("&quot; &#39; &nbsp;") == "&quot; &#39; &nbsp;"


def test_decode_entities_in_links() -> None:
    wire = "<https://grafana.example.com/d?a=1&amp;b=2|a &amp; b>"

    assert decode(wire) == "a & b (https://grafana.example.com/d?a=1&b=2)"


def test_decode_escaped_markup_stays_text() -> None:
    assert decode("&lt;!here&gt; is not a ping") == "<!here> is not a ping"


def test_decode_unescaped_angle_brackets_stay() -> None:
    # Only a client that skips Slack's escaping sends these, such as a test.
    assert decode("lag < 5 s and > 2 s") == "lag < 5 s and > 2 s"
    assert decode("<b>bold</b>") == "<b>bold</b>"


def test_decode_text_without_markup_unchanged() -> None:
    text = "Replica lag back under 5 s: closing the incident 🎉"

    assert decode(text) == text


def test_decode_whole_message() -> None:
    wire = (
        "<!subteam^S1|@dba-oncall> <@U123> says lag &gt; 300s on "
        "<https://grafana.example.com/d/pg|the lag panel>, see <#C42|inc-db>"
    )

    assert decode(wire, user_name=user_name, group_name=group_name) == (
        "@dba-oncall @alice says lag > 300s on "
        "the lag panel (https://grafana.example.com/d/pg), see #inc-db"
    )


def test_escape_entities() -> None:
    assert (
        escape("p95 > 2s & climbing <maybe>")
        == "p95 &gt; 2s &amp; climbing &lt;maybe&gt;"
    )


def test_escape_defuses_special_markup() -> None:
    assert escape("<!here> <!channel> <@U123> <!subteam^S1>") == (
        f"&lt;!here&gt; &lt;!channel&gt; &lt;@{JOINER}U123&gt; &lt;!subteam^S1&gt;"
    )


@pytest.mark.parametrize("word", ["@here", "@channel", "@everyone", "@all", "@bob"])
def test_escape_defuses_bare_mentions(word: str) -> None:
    assert escape(f"ping {word} now") == f"ping @{JOINER}{word[1:]} now"


def test_escape_leaves_lone_at_sign() -> None:
    assert escape("meet @ 16:00") == "meet @ 16:00"


def test_escape_twice_keeps_mentions_dead() -> None:
    twice = escape(escape("<!here> @channel"))

    assert twice == f"&amp;lt;!here&amp;gt; @{JOINER}channel"
    assert "<" not in twice
    assert "@channel" not in twice


def test_message_text_prefers_text() -> None:
    event = {"text": "lag is back", "attachments": [{"title": "ignored"}]}

    assert message_text(event) == "lag is back"


def test_message_text_alert_attachment_title() -> None:
    event = {
        "subtype": "bot_message",
        "text": "",
        "attachments": [
            {
                "fallback": "Triggered: payments-db replication lag > 300s",
                "title": "payments-db replication lag",
            }
        ],
    }

    assert message_text(event) == "payments-db replication lag"


def test_message_text_attachment_field_order() -> None:
    attachment = {
        "fallback": "fallback",
        "pretext": "pretext",
        "title": "title",
        "text": "text",
    }
    event = {
        "text": " ",
        "attachments": [
            attachment,
            {key: attachment[key] for key in ("fallback", "pretext", "title")},
            {key: attachment[key] for key in ("fallback", "pretext")},
            {"fallback": "fallback only"},
        ],
    }

    assert message_text(event) == "text\ntitle\npretext\nfallback only"


def test_message_text_attachments_without_repeats() -> None:
    event = {
        "attachments": [
            {"title": "payments-db replication lag"},
            {"title": "payments-db replication lag"},
            {"text": "", "fallback": "Resolved"},
        ]
    }

    assert message_text(event) == "payments-db replication lag\nResolved"


def test_message_text_section_blocks() -> None:
    event = {
        "text": "",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Lag > 300s"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*payments-db* &gt; 300s"},
                "fields": [{"type": "mrkdwn", "text": "*Host:* db-2"}],
            },
            {"type": "divider"},
            {
                "type": "context",
                "elements": [
                    {"type": "image", "image_url": "https://x/i.png", "alt_text": "i"},
                    {
                        "type": "mrkdwn",
                        "text": "via <https://alerts.example.com|Alerts>",
                    },
                ],
            },
        ],
    }

    assert message_text(event) == (
        "Lag &gt; 300s\n*payments-db* &gt; 300s\n*Host:* db-2\n"
        "via <https://alerts.example.com|Alerts>"
    )


def test_message_text_rich_text_blocks() -> None:
    event = {
        "text": "",
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_section",
                        "elements": [
                            {"type": "user", "user_id": "U123"},
                            {"type": "text", "text": " lag > 300s on "},
                            {
                                "type": "link",
                                "url": "https://grafana.example.com/d/pg",
                                "text": "the panel",
                            },
                            {"type": "text", "text": " "},
                            {"type": "emoji", "name": "fire", "unicode": "1f525"},
                            {"type": "text", "text": " "},
                            {"type": "emoji", "name": "raised_hand", "skin_tone": 4},
                            {"type": "text", "text": " "},
                            {"type": "broadcast", "range": "here"},
                            {"type": "text", "text": " "},
                            {"type": "usergroup", "usergroup_id": "S1"},
                            {"type": "text", "text": " in "},
                            {"type": "channel", "channel_id": "C42"},
                            {"type": "text", "text": "\n"},
                        ],
                    },
                    {
                        "type": "rich_text_list",
                        "style": "ordered",
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [{"type": "text", "text": "fail over"}],
                            },
                            {
                                "type": "rich_text_section",
                                "elements": [{"type": "text", "text": "page DBA"}],
                            },
                        ],
                    },
                    {
                        "type": "rich_text_preformatted",
                        "elements": [{"type": "text", "text": "SELECT 1;"}],
                    },
                    {
                        "type": "rich_text_quote",
                        "elements": [{"type": "text", "text": "quoted\nline"}],
                    },
                ],
            }
        ],
    }

    wire = message_text(event)

    assert wire == (
        "<@U123> lag &gt; 300s on <https://grafana.example.com/d/pg|the panel> "
        ":fire: :raised_hand::skin-tone-4: <!here> <!subteam^S1> in <#C42>\n"
        "1. fail over\n2. page DBA\n```SELECT 1;```\n&gt; quoted\n&gt; line"
    )
    assert decode(wire, user_name=user_name, group_name=group_name) == (
        "@alice lag > 300s on the panel (https://grafana.example.com/d/pg) "
        ":fire: :raised_hand::skin-tone-4: @here @dba-oncall in #C42\n"
        "1. fail over\n2. page DBA\n```SELECT 1;```\n> quoted\n> line"
    )


def test_message_text_bullet_list_indent() -> None:
    event = {
        "blocks": [
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_list",
                        "style": "bullet",
                        "indent": 1,
                        "elements": [
                            {
                                "type": "rich_text_section",
                                "elements": [{"type": "text", "text": "db-2 & db-3"}],
                            }
                        ],
                    }
                ],
            }
        ]
    }

    assert message_text(event) == "    • db-2 &amp; db-3"


def test_message_text_date_element() -> None:
    element = {
        "type": "date",
        "timestamp": 1392734382,
        "format": "{date}",
        "fallback": "Feb 18",
    }
    event = {
        "blocks": [
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_section", "elements": [element]}],
            }
        ]
    }

    assert message_text(event) == "<!date^1392734382^{date}|Feb 18>"
    assert decode(message_text(event)) == "Feb 18"


def test_message_text_nothing_readable() -> None:
    assert message_text({}) == ""
    assert message_text({"text": "  ", "attachments": [{}], "blocks": []}) == ""
    assert message_text({"text": None, "attachments": "bad", "blocks": [1]}) == ""


def test_file_names_fallbacks() -> None:
    event = {
        "files": [
            {"id": "F1", "name": "p95-latency.png", "title": "p95 latency"},
            {"id": "F2", "name": "", "title": "x.log"},
            {"id": "F3", "mode": "tombstone"},
            {},
            "not a file",
        ]
    }

    assert file_names(event) == ["p95-latency.png", "x.log", "F3"]


def test_file_names_without_files() -> None:
    assert file_names({"text": "no files"}) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("raised_hand::skin-tone-4", "raised_hand"),
        ("+1::skin-tone-2", "+1"),
        ("round_pushpin", "round_pushpin"),
        ("pushpin", "pushpin"),
        ("skin-tone-4", "skin-tone-4"),
    ],
)
def test_base_reaction(name: str, expected: str) -> None:
    assert base_reaction(name) == expected
