"""Run the GitLab and PagerDuty sandboxes, and optionally Slack's, until stopped.

Prints GITLAB_URL, GITLAB_TOKEN, PAGERDUTY_API_URL, PAGERDUTY_EVENTS_URL,
PAGERDUTY_API_KEY, PAGERDUTY_FROM and PAGERDUTY_CA_BUNDLE as KEY=value lines
once the servers listen, and writes the same lines to --env-file when given.
The PagerDuty sandbox serves HTTPS with a certificate made at start, because
the pagerduty client accepts only https:// URLs, and PAGERDUTY_CA_BUNDLE is
the CA file to trust. --pagerduty-plain-http makes it serve plain HTTP and
leaves PAGERDUTY_CA_BUNDLE out. PagerDuty has the demo account of
sandbox/pagerduty_demo.py, and its REST API requires PAGERDUTY_API_KEY.
With --slack it also serves the Slack emulator with a small workspace
(sandbox/slack_demo.py) and adds SLACK_API_URL, SLACK_BOT_TOKEN and
SLACK_APP_TOKEN. GitLab has the users alice, bob and carol either way.
SIGINT or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from sandbox.gitlab import DEFAULT_PROJECTS, GitLabSandbox
from sandbox.pagerduty import PagerDutySandbox
from sandbox.pagerduty_demo import API_KEY, FROM_EMAIL, add_demo_account
from sandbox.slack import SlackSandbox
from sandbox.slack_demo import PEOPLE, add_demo_workspace


def _api_key(value: str) -> str:
    # The key goes into a KEY=value line, and config.py reads a blank value
    # as unset, so the bot would send no key at all.
    if not value or any(character.isspace() for character in value):
        raise argparse.ArgumentTypeError(
            f"invalid key {value!r}: use a non-empty key without spaces"
        )
    return value


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Serve local GitLab, PagerDuty and Slack emulators for the bot.",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address every server listens on (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--gitlab-port",
        type=int,
        default=0,
        help="TCP port of the GitLab sandbox; 0 picks a free one (default: 0)",
    )
    parser.add_argument(
        "--pagerduty-port",
        type=int,
        default=0,
        help="TCP port of the PagerDuty sandbox; 0 picks a free one (default: 0)",
    )
    parser.add_argument(
        "--pagerduty-plain-http",
        action="store_true",
        help="serve the PagerDuty sandbox over plain HTTP instead of HTTPS; the "
        "pagerduty client, and so the bot, accepts only HTTPS",
    )
    parser.add_argument(
        "--pagerduty-api-key",
        default=API_KEY,
        type=_api_key,
        help=f"REST API key the PagerDuty sandbox requires (default: {API_KEY})",
    )
    parser.add_argument(
        "--tier",
        choices=("free", "premium"),
        default="free",
        help="GitLab tier to emulate; premium makes scoped labels exclusive",
    )
    parser.add_argument(
        "--token",
        default="sandbox-token",
        help="token the GitLab sandbox accepts (default: sandbox-token)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        help="also write the KEY=value lines to this file, replacing it "
        "atomically once the servers listen; it is removed on exit",
    )
    parser.add_argument(
        "--project",
        action="append",
        dest="projects",
        metavar="PATH",
        help="project to create, for example infra/production; repeat for "
        "more (default: the six projects of the example settings)",
    )
    parser.add_argument(
        "--slack",
        action="store_true",
        help="also serve the Slack emulator (Web API and Socket Mode) with the "
        "people alice, bob and carol and an #incidents channel the bot is in",
    )
    parser.add_argument(
        "--slack-port",
        type=int,
        default=0,
        help="TCP port of the Slack Web API and of the control routes that "
        "python -m sandbox.slack_say uses; 0 picks a free one (default: 0)",
    )
    parser.add_argument(
        "--slack-bot-name",
        default="incidentbot",
        help="user name of the bot in the Slack emulator; it must equal the "
        "bot's INCIDENT_BOT_NAME (default: incidentbot)",
    )
    return parser.parse_args(argv)


def _write_atomically(path: Path, text: str) -> None:
    """Write text to path so that a reader sees either nothing or all of it."""
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _start_slack(args: argparse.Namespace) -> SlackSandbox:
    # Slack sends an app the events of its own posts and of the channels it
    # joins, so the emulator does too, and the bot must ignore its own.
    slack = SlackSandbox(
        bot_name=args.slack_bot_name,
        deliver_own_events=True,
        host=args.host,
        port=args.slack_port,
    )
    add_demo_workspace(slack)
    slack.start()
    return slack


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    # Warnings reach stderr: an unknown Slack Web API method, a sandbox bug.
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    gitlab = GitLabSandbox(
        tier=args.tier,
        token=args.token,
        projects=args.projects or DEFAULT_PROJECTS,
        host=args.host,
        port=args.gitlab_port,
    )
    # The demo Slack people have GitLab accounts with the same usernames, so
    # follow-ups can be given an owner.
    for _, name, real_name in PEOPLE:
        gitlab.add_user(name, real_name)
    pagerduty = PagerDutySandbox(
        host=args.host,
        port=args.pagerduty_port,
        tls=not args.pagerduty_plain_http,
        api_key=args.pagerduty_api_key,
    )
    add_demo_account(pagerduty)
    slack: SlackSandbox | None = None
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        gitlab.start()
        pagerduty.start()
        lines = [
            f"GITLAB_URL={gitlab.url}",
            f"GITLAB_TOKEN={gitlab.token}",
            f"PAGERDUTY_API_URL={pagerduty.url}",
            f"PAGERDUTY_EVENTS_URL={pagerduty.url}",
            f"PAGERDUTY_API_KEY={args.pagerduty_api_key}",
            f"PAGERDUTY_FROM={FROM_EMAIL}",
        ]
        if pagerduty.ca_bundle is not None:
            lines.append(f"PAGERDUTY_CA_BUNDLE={pagerduty.ca_bundle}")
        if args.slack:
            slack = _start_slack(args)
            lines += [
                f"SLACK_API_URL={slack.api_url}",
                f"SLACK_BOT_TOKEN={slack.bot_token}",
                f"SLACK_APP_TOKEN={slack.app_token}",
            ]
        text = "\n".join(lines) + "\n"
        sys.stdout.write(text)
        sys.stdout.flush()
        if args.env_file is not None:
            _write_atomically(args.env_file, text)
        # Event.wait with a timeout lets the signal handler run promptly.
        while not stop.wait(0.5):
            pass
    finally:
        if args.env_file is not None:
            args.env_file.unlink(missing_ok=True)
        if slack is not None:
            slack.stop()
        pagerduty.stop()
        gitlab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
