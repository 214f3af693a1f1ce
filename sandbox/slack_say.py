"""Act as a person in the Slack sandbox and print the bot's replies.

    python -m sandbox.slack_say --user alice --channel incidents \\
        "!incident declare S2 Checkout errors"

It posts the text as that person through the sandbox's control routes
(sandbox/slack_control.py), then prints every message the bot posts in any
channel until the bot has been quiet for --quiet seconds or --wait seconds
have passed. A text that starts with "/" runs as a slash command. --react
adds a reaction to a message instead, by its ts, which this command prints
for every message.

The sandbox's address comes from --url or from SLACK_API_URL, the variable
`python -m sandbox --slack` prints. Only loopback addresses are accepted,
because the control routes exist only in the sandbox.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import requests

# Seconds one request to the sandbox may take.
REQUEST_TIMEOUT = 5.0
# Seconds between two reads of new messages.
POLL_INTERVAL = 0.2


class SayError(Exception):
    """A failure to report on stderr, with exit status 1."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.slack_say",
        description="Post to the Slack sandbox as a person and print the bot's "
        "replies.",
    )
    parser.add_argument(
        "text",
        nargs="?",
        help='message to post; one starting with "/" runs as a slash command',
    )

    parser.add_argument("--user", required=True, help="person to act as, such as alice")
    parser.add_argument(
        "--channel",
        required=True,
        help="channel name or ID, such as incidents or inc-1",
    )

    parser.add_argument(
        "--thread", metavar="TS", help="reply in the thread of the message TS"
    )
    parser.add_argument(
        "--react",
        metavar="NAME",
        help="add the reaction NAME (such as pushpin) to the message --ts "
        "instead of posting",
    )
    parser.add_argument("--ts", help="message that --react reacts to")
    parser.add_argument(
        "--remove",
        action="store_true",
        help="with --react, remove the reaction instead of adding it",
    )

    parser.add_argument(
        "--url",
        help="base URL of the Slack sandbox (default: SLACK_API_URL without "
        "its /api/ suffix)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        help="maximum seconds to wait for replies (default: 10)",
    )
    parser.add_argument(
        "--quiet",
        type=float,
        default=2.0,
        help="seconds without a new reply after which the replies are taken "
        "as complete (default: 2)",
    )

    args = parser.parse_args(argv)
    if args.react is None and not args.text:
        parser.error("give the text to post, or --react NAME --ts TS")
    if args.react is not None and (args.text or args.ts is None):
        parser.error("--react takes --ts and no text")
    if args.remove and args.react is None:
        parser.error("--remove works only with --react")
    return args


def sandbox_url(url: str | None) -> str:
    """Return the sandbox's base URL from --url or SLACK_API_URL.

    Raises SayError when neither is set or the host is not a loopback address.
    """
    source = "--url"
    if not url:
        url = os.environ.get("SLACK_API_URL", "").strip()
        source = "SLACK_API_URL"
    if not url:
        raise SayError(
            "SLACK_API_URL is not set. Set it to the value that "
            "`python -m sandbox --slack` printed, or pass --url."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _is_loopback(parts.hostname):
        raise SayError(
            f"{source} is {url!r}, which is not the Slack sandbox: slack_say "
            "talks only to a sandbox on a loopback address such as "
            "http://127.0.0.1:8930/api/"
        )
    path = parts.path.rstrip("/").removesuffix("/api")
    return f"{parts.scheme}://{parts.netloc}{path}"


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _request(method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = requests.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
    except requests.RequestException as error:
        raise SayError(
            f"failed to reach the Slack sandbox at {url}: {error}. Is "
            "`python -m sandbox --slack` running?"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SayError(
            f"{url} returned HTTP {response.status_code} without a JSON body; "
            "is that address the Slack sandbox?"
        )
    if not body.get("ok"):
        detail = body.get("detail") or body.get("error") or "no reason given"
        raise SayError(f"the Slack sandbox rejected the request: {detail}")
    return body


def format_message(message: dict[str, Any]) -> str:
    """Return one message as a line, with later lines of its text indented."""
    where = message["channel_name"]
    if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
        where += f" (thread {message['thread_ts']})"
    author = message.get("user_name") or message.get("user") or "unknown"
    if message.get("ephemeral_to"):
        author += f", only to {message['ephemeral_to']}"
    text = _unescape(message.get("text") or "")
    body = text.replace("\n", "\n    ")
    return f"{where} {author} [ts {message['ts']}]: {body}"


def _unescape(text: str) -> str:
    # Slack escapes only these three characters in message text.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def act(base: str, args: argparse.Namespace) -> str:
    """Post or react as the person and return the cursor for the replies."""
    person = {"user": args.user, "channel": args.channel}
    if args.react is not None:
        body = _request(
            "POST",
            f"{base}/sandbox/react",
            json={**person, "ts": args.ts, "name": args.react, "remove": args.remove},
        )
        verb = "removed" if args.remove else "added"
        print(f"{args.user} {verb} :{args.react}: on {args.ts}")
        return str(body["cursor"])
    body = _request(
        "POST",
        f"{base}/sandbox/say",
        json={**person, "text": args.text, "thread_ts": args.thread},
    )
    if body["kind"] == "slash_command":
        print(f"{args.user} ran {args.text.split()[0]} in {args.channel}")
    else:
        print(f"{args.user} posted in {args.channel} [ts {body['ts']}]")
    return str(body["cursor"])


def print_replies(base: str, cursor: str, wait: float, quiet: float) -> int:
    """Print the bot's new messages until it is quiet; return how many."""
    deadline = time.monotonic() + wait
    last_reply: float | None = None
    count = 0
    while time.monotonic() < deadline:
        if last_reply is not None and time.monotonic() - last_reply >= quiet:
            break
        body = _request("GET", f"{base}/sandbox/messages", params={"after": cursor})
        cursor = str(body["cursor"])
        for message in body["messages"]:
            if not message.get("is_bot"):
                continue
            print(format_message(message))
            count += 1
            last_reply = time.monotonic()
        time.sleep(POLL_INTERVAL)
    if count == 0:
        print(f"(the bot posted nothing within {wait:g} s)")
    return count


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        base = sandbox_url(args.url)
        cursor = act(base, args)
        print_replies(base, cursor, args.wait, args.quiet)
    except SayError as error:
        print(f"slack_say: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
