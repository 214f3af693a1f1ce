"""Tests of config.py and scripts/run-bot, each run in a child process."""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ERRBOT = Path(sys.executable).parent / "errbot"

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-test-bot-token-5b1f",
    "SLACK_APP_TOKEN": "xapp-test-app-token-9c2e",
    "GITLAB_TOKEN": "glpat-test-token-77d0",
    "PAGERDUTY_API_KEY": "pd-test-key-3a44",
}

# Prints the attributes that Errbot and the plugin read. Secrets are compared
# inside the child, so that they never reach its output.
IMPORT_CONFIG = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    import config

    names = [
        "BACKEND", "STORAGE", "BOT_DATA_DIR", "BOT_LOG_FILE", "BOT_LOG_LEVEL",
        "BOT_ADMINS", "BOT_EXTRA_PLUGIN_DIR", "BOT_EXTRA_STORAGE_PLUGINS_DIR",
        "BOT_EXTRA_BACKEND_DIR", "BOT_PREFIX", "BOT_ALT_PREFIXES",
        "CHATROOM_PRESENCE", "TEXT_COLOR_THEME", "INCIDENT_SETTINGS",
        "GITLAB_URL", "PAGERDUTY_FROM", "PAGERDUTY_API_URL",
        "PAGERDUTY_EVENTS_URL", "PAGERDUTY_CA_BUNDLE", "CORE_PLUGINS",
    ]
    values = {name: getattr(config, name, None) for name in names}
    values["identity_keys"] = sorted(config.BOT_IDENTITY)
    values["username"] = config.BOT_IDENTITY.get("username")
    values["slack_tokens_match"] = config.BOT_IDENTITY.get("token") == os.environ.get(
        "SLACK_BOT_TOKEN"
    ) and config.BOT_IDENTITY.get("app_token") == os.environ.get("SLACK_APP_TOKEN")
    values["gitlab_token_matches"] = config.GITLAB_TOKEN == os.environ.get(
        "GITLAB_TOKEN"
    )
    values["pagerduty_key_matches"] = config.PAGERDUTY_API_KEY == os.environ.get(
        "PAGERDUTY_API_KEY"
    )
    values["gitlab_token_unset"] = config.GITLAB_TOKEN is None
    values["pagerduty_key_unset"] = config.PAGERDUTY_API_KEY is None
    print(json.dumps(values))
    """
)


def base_environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "INCIDENT_DATA_DIR": str(tmp_path / "data"),
    }
    environment.update(variables)
    return environment


def run_config(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", IMPORT_CONFIG, str(REPO)],
        env=base_environment(tmp_path, **variables),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def import_config(tmp_path: Path, **variables: str) -> dict:
    result = run_config(tmp_path, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        for name, secret in SECRETS.items():
            assert secret not in output, f"{name} appears in the output"


def write_bad_settings(tmp_path: Path) -> Path:
    example = (REPO / "settings.example.toml").read_text(encoding="utf-8")
    path = tmp_path / "settings.toml"
    path.write_text(example.replace('tier = "free"', 'tier = "gold"'), "utf-8")
    return path


def test_text_backend_by_default(tmp_path: Path) -> None:
    config = import_config(tmp_path)

    assert config["BACKEND"] == "Text"
    assert config["identity_keys"] == ["username"]
    assert config["username"] == "@incidentbot"
    assert config["BOT_ADMINS"] == ["@localuser"]
    assert config["BOT_EXTRA_BACKEND_DIR"] is None


def test_storage_and_directories(tmp_path: Path) -> None:
    config = import_config(tmp_path)

    assert config["STORAGE"] == "SQLite"
    assert config["BOT_EXTRA_STORAGE_PLUGINS_DIR"] == str(REPO / "storage")
    assert config["BOT_EXTRA_PLUGIN_DIR"] == str(REPO / "plugins")
    assert config["BOT_DATA_DIR"] == str(tmp_path / "data")
    assert config["BOT_LOG_FILE"] == str(tmp_path / "data" / "errbot.log")
    assert (tmp_path / "data").is_dir()


def test_chat_defaults(tmp_path: Path) -> None:
    config = import_config(tmp_path)

    assert config["BOT_PREFIX"] == "!"
    assert config["BOT_ALT_PREFIXES"] == ["@incidentbot"]
    assert config["CHATROOM_PRESENCE"] == []
    assert config["TEXT_COLOR_THEME"] == "dark"
    assert config["BOT_LOG_LEVEL"] == 20
    # VersionChecker would poll errbot.io, so it is left out of the core plugins.
    assert "VersionChecker" not in config["CORE_PLUGINS"]
    assert "Help" in config["CORE_PLUGINS"]
    assert "ACLs" in config["CORE_PLUGINS"]


def test_bot_name_sets_identity_and_prefix(tmp_path: Path) -> None:
    config = import_config(tmp_path, INCIDENT_BOT_NAME="pagerbot")

    assert config["username"] == "@pagerbot"
    assert config["BOT_ALT_PREFIXES"] == ["@pagerbot"]


def test_nested_data_dir_is_created(tmp_path: Path) -> None:
    data_dir = tmp_path / "a" / "b"

    config = import_config(tmp_path, INCIDENT_DATA_DIR=str(data_dir))

    assert config["BOT_DATA_DIR"] == str(data_dir)
    assert data_dir.is_dir()


def test_uncreatable_data_dir_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    result = run_config(tmp_path, INCIDENT_DATA_DIR=str(blocker / "data"))

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"config.py: failed to create the data directory {blocker / 'data'}: "
    )
    assert "Set INCIDENT_DATA_DIR" in result.stderr


def test_slack_backend_with_both_tokens(tmp_path: Path) -> None:
    result = run_config(
        tmp_path,
        SLACK_BOT_TOKEN=SECRETS["SLACK_BOT_TOKEN"],
        SLACK_APP_TOKEN=SECRETS["SLACK_APP_TOKEN"],
        INCIDENT_ADMINS="U012AB3CD, U045EF6GH,",
    )
    config = json.loads(result.stdout)

    assert config["BACKEND"] == "IncidentSlack"
    assert config["BOT_EXTRA_BACKEND_DIR"] == str(REPO / "backends")
    assert config["identity_keys"] == ["app_token", "token"]
    assert config["slack_tokens_match"] is True
    assert config["BOT_ADMINS"] == ["U012AB3CD", "U045EF6GH"]
    assert_no_secret(result.stdout, result.stderr)


def test_slack_has_no_default_admin(tmp_path: Path) -> None:
    config = import_config(
        tmp_path,
        SLACK_BOT_TOKEN=SECRETS["SLACK_BOT_TOKEN"],
        SLACK_APP_TOKEN=SECRETS["SLACK_APP_TOKEN"],
    )

    assert config["BOT_ADMINS"] == []


def test_one_slack_token_falls_back_to_text(tmp_path: Path) -> None:
    result = run_config(tmp_path, SLACK_APP_TOKEN=SECRETS["SLACK_APP_TOKEN"])
    config = json.loads(result.stdout)

    assert config["BACKEND"] == "Text"
    assert result.stderr == (
        "config.py: SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not, so the bot "
        "starts on the text console. Set both to connect to Slack.\n"
    )
    assert_no_secret(result.stdout, result.stderr)


def test_service_variables_exposed(tmp_path: Path) -> None:
    result = run_config(
        tmp_path,
        GITLAB_URL="http://127.0.0.1:8929",
        GITLAB_TOKEN=SECRETS["GITLAB_TOKEN"],
        PAGERDUTY_API_KEY=SECRETS["PAGERDUTY_API_KEY"],
        PAGERDUTY_FROM="oncall@example.com",
        PAGERDUTY_API_URL="http://127.0.0.1:8930",
        PAGERDUTY_EVENTS_URL="http://127.0.0.1:8931",
    )
    config = json.loads(result.stdout)

    assert config["GITLAB_URL"] == "http://127.0.0.1:8929"
    assert config["gitlab_token_matches"] is True
    assert config["pagerduty_key_matches"] is True
    assert config["PAGERDUTY_FROM"] == "oncall@example.com"
    assert config["PAGERDUTY_API_URL"] == "http://127.0.0.1:8930"
    assert config["PAGERDUTY_EVENTS_URL"] == "http://127.0.0.1:8931"
    assert_no_secret(result.stdout, result.stderr)


def test_service_variables_have_no_default(tmp_path: Path) -> None:
    config = import_config(tmp_path, GITLAB_URL="  ")

    assert config["GITLAB_URL"] is None
    assert config["gitlab_token_unset"] is True
    assert config["pagerduty_key_unset"] is True
    assert config["PAGERDUTY_FROM"] is None
    assert config["PAGERDUTY_API_URL"] is None
    assert config["PAGERDUTY_EVENTS_URL"] is None
    assert config["PAGERDUTY_CA_BUNDLE"] is None


def test_pagerduty_ca_bundle_passed_through(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")

    config = import_config(tmp_path, PAGERDUTY_CA_BUNDLE=str(bundle))

    assert config["PAGERDUTY_CA_BUNDLE"] == str(bundle)


def test_missing_pagerduty_ca_bundle_exits_2(tmp_path: Path) -> None:
    bundle = tmp_path / "gone" / "ca.pem"

    result = run_config(tmp_path, PAGERDUTY_CA_BUNDLE=str(bundle))

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"config.py: PAGERDUTY_CA_BUNDLE is '{bundle}', but {bundle} is not an "
        "existing file. Set PAGERDUTY_CA_BUNDLE to the path of a PEM file of CA "
        "certificates, or unset it to trust the system's certificates.\n"
    )


def test_pagerduty_ca_bundle_directory_exits_2(tmp_path: Path) -> None:
    result = run_config(tmp_path, PAGERDUTY_CA_BUNDLE=str(tmp_path))

    assert result.returncode == 2
    assert f"{tmp_path} is not an existing file" in result.stderr


def test_settings_default_to_example(tmp_path: Path) -> None:
    config = import_config(tmp_path)

    assert config["INCIDENT_SETTINGS"] == str(REPO / "settings.example.toml")


def test_relative_settings_path_made_absolute(tmp_path: Path) -> None:
    example = (REPO / "settings.example.toml").read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(example, encoding="utf-8")

    config = import_config(tmp_path, INCIDENT_SETTINGS="mine.toml")

    assert config["INCIDENT_SETTINGS"] == str(tmp_path / "mine.toml")


def test_bad_settings_exit_2_naming_key(tmp_path: Path) -> None:
    path = write_bad_settings(tmp_path)

    result = run_config(tmp_path, INCIDENT_SETTINGS=str(path), **SECRETS)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"config.py: invalid incident settings: {path}: invalid gitlab.tier = "
        '"gold": use "free" or "premium"\n'
    )
    assert_no_secret(result.stderr)


def test_missing_settings_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    result = run_config(tmp_path, INCIDENT_SETTINGS=str(path))

    assert result.returncode == 2
    assert f"{path}: settings file not found" in result.stderr


def test_log_level_from_environment(tmp_path: Path) -> None:
    config = import_config(tmp_path, INCIDENT_LOG_LEVEL="debug")

    assert config["BOT_LOG_LEVEL"] == 10


def test_invalid_log_level_exits_2(tmp_path: Path) -> None:
    result = run_config(tmp_path, INCIDENT_LOG_LEVEL="loud")

    assert result.returncode == 2
    assert result.stderr == (
        "config.py: invalid INCIDENT_LOG_LEVEL 'LOUD': use one of DEBUG, INFO, "
        "WARNING, ERROR, CRITICAL\n"
    )


def test_errbot_exits_2_on_bad_settings(tmp_path: Path) -> None:
    path = write_bad_settings(tmp_path)

    result = subprocess.run(
        [str(ERRBOT), "-c", str(REPO / "config.py")],
        env=base_environment(tmp_path, INCIDENT_SETTINGS=str(path), **SECRETS),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "invalid gitlab.tier" in result.stderr
    assert_no_secret(result.stdout, result.stderr)


def test_errbot_text_console_starts_and_stops(tmp_path: Path) -> None:
    # With stdin closed the text console reads end-of-file at once and Errbot
    # shuts down. GITLAB_URL stays unset, so nothing contacts a server. The
    # Slack tokens stay unset too, because both would select the Slack backend.
    secrets = {
        "GITLAB_TOKEN": SECRETS["GITLAB_TOKEN"],
        "PAGERDUTY_API_KEY": SECRETS["PAGERDUTY_API_KEY"],
    }

    result = subprocess.run(
        [str(ERRBOT), "-c", str(REPO / "config.py")],
        env=base_environment(tmp_path, INCIDENT_LOG_LEVEL="DEBUG", **secrets),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    log_file = tmp_path / "data" / "errbot.log"
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "storage.sqlite3").is_file()
    assert "Found Storage plugin: SQLite." in log_file.read_text(encoding="utf-8")
    assert_no_secret(result.stdout, result.stderr, log_file.read_text("utf-8"))


def test_run_bot_starts_and_stops_sandbox(tmp_path: Path) -> None:
    # scripts/run-bot without GITLAB_URL: it starts the sandbox, runs Errbot on
    # the text console (which reads end-of-file and exits) and stops the sandbox.
    # The sandbox's PagerDuty variables replace these, or else config.py would
    # stop on the missing CA bundle.
    pagerduty = {
        "PAGERDUTY_API_URL": "https://127.0.0.1:9",
        "PAGERDUTY_API_KEY": SECRETS["PAGERDUTY_API_KEY"],
        "PAGERDUTY_FROM": "oncall@example.org",
        "PAGERDUTY_CA_BUNDLE": str(tmp_path / "missing.pem"),
    }
    result = subprocess.run(
        [str(REPO / "scripts" / "run-bot")],
        env=base_environment(tmp_path, TMPDIR=str(tmp_path), **pagerduty),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    first_line = result.stdout.splitlines()[0]
    prefix = "run-bot: GITLAB_URL is unset, so the bot uses the sandbox: GitLab at "
    assert result.returncode == 0, result.stderr
    assert first_line.startswith(prefix + "http://127.0.0.1:")
    url = first_line.removeprefix(prefix).split(",")[0]
    port = int(url.rsplit(":", 1)[1])
    sandbox_log = (tmp_path / "data" / "sandbox" / "sandbox.log").read_text(
        encoding="utf-8"
    )
    assert f"GITLAB_URL={url}\n" in sandbox_log
    assert re.search(
        r", PagerDuty at https://127\.0\.0\.1:\d+ acting as "
        r"incidentbot@example\.com \(log: ",
        first_line,
    ), first_line
    assert "PAGERDUTY_CA_BUNDLE=" in sandbox_log
    assert_no_secret(result.stdout, result.stderr)
    assert list(tmp_path.glob("incidentbot-run.*")) == []
    # The sandbox has stopped, so its port refuses connections.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_run_bot_sandbox_starts_fresh_each_time(tmp_path: Path) -> None:
    # The sandbox GitLab discards its issues on exit, so a second run must not
    # remember the incident declared in the first.
    replies = []
    for _ in range(2):
        result = subprocess.run(
            [str(REPO / "scripts" / "run-bot")],
            env=base_environment(tmp_path, TMPDIR=str(tmp_path)),
            cwd=tmp_path,
            input="!incident declare S2 Checkout errors\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        replies.append(result.stdout)

    for reply in replies:
        assert "Declared S2 incident infra/production#1: Checkout errors" in reply
