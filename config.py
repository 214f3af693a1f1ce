"""Errbot configuration of the incident bot, built from environment variables.

`errbot -c config.py` imports this file (scripts/run-bot does that). Errbot reads
the upper-case names below, and errbot/config-template.py in the Errbot package
documents each of them. Tokens and keys come only from the environment, and this
file never prints or logs them.

A setting that stops the start (an invalid settings file, log level, data
directory or CA bundle) is reported on stderr, and the process exits with
status 2.
"""

import logging
import os
import sys
from pathlib import Path
from typing import NoReturn

from incidentbot.settings import SettingsError, example_settings_path, load_settings

ROOT = Path(__file__).resolve().parent
# Exit status for a configuration error, as for a command-line usage error.
CONFIG_ERROR_STATUS = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _env(name: str) -> str | None:
    """Return the variable's value, or None when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def _fail(message: str) -> NoReturn:
    print(f"config.py: {message}", file=sys.stderr)
    sys.exit(CONFIG_ERROR_STATUS)


def _settings_path() -> str:
    path = Path(_env("INCIDENT_SETTINGS") or example_settings_path()).resolve()
    # Loading here only validates the file, so that a mistake stops the start
    # instead of leaving the Incident plugin deactivated. The plugin loads the
    # file again from INCIDENT_SETTINGS.
    try:
        load_settings(path)
    except SettingsError as error:
        _fail(f"invalid incident settings: {error}")
    return str(path)


def _data_dir() -> Path:
    path = Path(_env("INCIDENT_DATA_DIR") or ROOT / "data").resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _fail(
            f"failed to create the data directory {path}: {error.strerror}. "
            "Set INCIDENT_DATA_DIR to a directory the bot can write to."
        )
    return path


def _log_level() -> int:
    name = (_env("INCIDENT_LOG_LEVEL") or "INFO").upper()
    if name not in LOG_LEVELS:
        _fail(
            f"invalid INCIDENT_LOG_LEVEL {name!r}: use one of {', '.join(LOG_LEVELS)}"
        )
    return int(getattr(logging, name))


def _admins(default: tuple[str, ...]) -> tuple[str, ...]:
    value = _env("INCIDENT_ADMINS")
    if value is None:
        return default
    return tuple(admin.strip() for admin in value.split(",") if admin.strip())


def _ca_bundle(name: str) -> str | None:
    value = _env(name)
    if value is None:
        return None
    path = Path(value).resolve()
    if not path.is_file():
        _fail(
            f"{name} is {value!r}, but {path} is not an existing file. Set {name} "
            "to the path of a PEM file of CA certificates, or unset it to trust "
            "the system's certificates."
        )
    return value


def _warn_half_slack(bot_token_set: bool) -> None:
    present, missing = "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"
    if not bot_token_set:
        present, missing = missing, present
    print(
        f"config.py: {present} is set but {missing} is not, so the bot starts on "
        "the text console. Set both to connect to Slack.",
        file=sys.stderr,
    )


# Settings and storage

INCIDENT_SETTINGS = _settings_path()
BOT_DATA_DIR = str(_data_dir())
BOT_LOG_FILE = str(Path(BOT_DATA_DIR) / "errbot.log")
BOT_LOG_LEVEL = _log_level()

BOT_EXTRA_PLUGIN_DIR = str(ROOT / "plugins")
BOT_EXTRA_STORAGE_PLUGINS_DIR = str(ROOT / "storage")
# Every write is committed before it returns, unlike Errbot's default Shelf.
STORAGE = "SQLite"

# The bot's plugins live in this repository and their dependencies are pinned
# in requirements.txt, so Errbot neither installs packages nor fetches a plugin
# index from the internet.
AUTOINSTALL_DEPS = False
BOT_PLUGIN_INDEXES = ()
# Errbot's core plugins, except VersionChecker, which polls errbot.io for new
# releases, and Webserver, which the bot does not use.
CORE_PLUGINS = (
    "ACLs",
    "Backup",
    "ChatRoom",
    "CommandNotFoundFilter",
    "Flows",
    "Health",
    "Help",
    "Plugins",
    "TextCmds",
    "Utils",
)

# Chat backend

# The bot's user name in chat. On Slack it must match the bot user's name,
# because the Slack backend (built on err-backend-slackv3) looks up the user ID
# of each alternative prefix by that name.
_bot_name = _env("INCIDENT_BOT_NAME") or "incidentbot"
_slack_bot_token = _env("SLACK_BOT_TOKEN")
_slack_app_token = _env("SLACK_APP_TOKEN")

# Base URL of Slack's Web API, such as the sandbox's http://127.0.0.1:<port>/api/.
# None means Slack's own, https://slack.com/api/.
SLACK_API_URL = _env("SLACK_API_URL")

if _slack_bot_token and _slack_app_token:
    # backends/incident_slack: SlackV3 in Socket Mode with the fixes the
    # incident bot needs (API URL, repeated deliveries, slash commands).
    BACKEND = "IncidentSlack"
    BOT_EXTRA_BACKEND_DIR = str(ROOT / "backends")
    # Socket mode: the app token opens the connection, the bot token calls the API.
    BOT_IDENTITY = {"token": _slack_bot_token, "app_token": _slack_app_token}
    # Slack admins are user IDs such as U012AB3CD, so there is no safe default.
    BOT_ADMINS = _admins(default=())
else:
    if _slack_bot_token or _slack_app_token:
        _warn_half_slack(bot_token_set=_slack_bot_token is not None)
    BACKEND = "Text"
    BOT_IDENTITY = {"username": f"@{_bot_name}"}
    # The text console's user.
    BOT_ADMINS = _admins(default=("@localuser",))

BOT_PREFIX = "!"
# "@incidentbot status" and "@incidentbot: status" work like "!status".
BOT_ALT_PREFIXES = (f"@{_bot_name}",)
BOT_ALT_PREFIX_SEPARATORS = (":", ",", ";")
# SlackV3 lower-cases the mention prefixes (<@U012AB3CD>) it builds from user
# IDs, so only a case-insensitive match finds them.
BOT_ALT_PREFIX_CASEINSENSITIVE = True
# The bot joins no rooms at start. On Slack, people invite it to channels.
CHATROOM_PRESENCE = ()
TEXT_COLOR_THEME = "dark"

# GitLab and PagerDuty, read by the plugins. Each is None when unset, because
# there is no default host. When GITLAB_URL is unset, scripts/run-bot sets the
# GitLab and PagerDuty variables to the sandbox's.

GITLAB_URL = _env("GITLAB_URL")
GITLAB_TOKEN = _env("GITLAB_TOKEN")
PAGERDUTY_API_KEY = _env("PAGERDUTY_API_KEY")
# Email address of the PagerDuty user on whose behalf the bot acts.
PAGERDUTY_FROM = _env("PAGERDUTY_FROM")
# Base URLs of PagerDuty's REST API and Events API. When PAGERDUTY_API_KEY is
# set and these are unset, the escalation plugin uses PagerDuty's own
# https://api.pagerduty.com and https://events.pagerduty.com. When none of the
# three is set, paging is off.
PAGERDUTY_API_URL = _env("PAGERDUTY_API_URL")
PAGERDUTY_EVENTS_URL = _env("PAGERDUTY_EVENTS_URL")
# PEM file of the CA certificates that PagerDuty's TLS certificate must chain
# to, instead of the system's, such as the sandbox's generated CA.
PAGERDUTY_CA_BUNDLE = _ca_bundle("PAGERDUTY_CA_BUNDLE")
