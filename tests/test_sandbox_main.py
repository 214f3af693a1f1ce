"""`python -m sandbox --slack`, `python -m sandbox.slack_say` and `run-bot --slack`.

The tests start the commands as child processes on free ports of 127.0.0.1,
as a person trying the bot would, except the checks of slack_say's
arguments, which call its main() and stop before any request.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from slack_sdk import WebClient

from sandbox import slack_say

REPO = Path(__file__).resolve().parent.parent
DECLARE = "!incident declare S2 Checkout errors"


def environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Return a minimal environment without the caller's Slack or GitLab settings."""
    values = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "INCIDENT_DATA_DIR": str(tmp_path / "data"),
    }
    values.update(variables)
    return values


def wait_for_file(path: Path, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the process exited with {process.returncode}"
        assert time.monotonic() < deadline, f"{path} did not appear in {timeout} s"
        time.sleep(0.05)


def stop(
    process: subprocess.Popen[str], signal_number: int, *, group: bool = False
) -> tuple[str, str]:
    """Signal a process, or with group=True its process group, and collect output.

    group=True stands for Ctrl-C in a terminal, which reaches every process
    of the foreground group.
    """
    if process.poll() is None:
        if group:
            os.killpg(process.pid, signal_number)
        else:
            process.send_signal(signal_number)
    try:
        return process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.communicate()
        raise AssertionError("the process did not stop within 20 s") from None


def start_sandbox(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Run `python -m sandbox --slack` and return it with the variables it printed."""
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--slack", "--env-file", str(env_file)],
        cwd=REPO,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_file(env_file, process, timeout=20)
    except AssertionError:
        stop(process, signal.SIGTERM)
        raise
    lines = env_file.read_text(encoding="utf-8").splitlines()
    return process, dict(line.split("=", 1) for line in lines)


@pytest.fixture
def slack_sandbox(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Run `python -m sandbox --slack` and yield the variables it printed."""
    process, values = start_sandbox(tmp_path)
    try:
        yield values
    finally:
        stop(process, signal.SIGTERM)


# python -m sandbox --slack


def test_slack_option_prints_variables(
    slack_sandbox: dict[str, str],
) -> None:
    values = slack_sandbox

    assert sorted(values) == [
        "GITLAB_TOKEN",
        "GITLAB_URL",
        "PAGERDUTY_API_KEY",
        "PAGERDUTY_API_URL",
        "PAGERDUTY_CA_BUNDLE",
        "PAGERDUTY_EVENTS_URL",
        "PAGERDUTY_FROM",
        "SLACK_API_URL",
        "SLACK_APP_TOKEN",
        "SLACK_BOT_TOKEN",
    ]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", values["SLACK_API_URL"])
    assert values["SLACK_BOT_TOKEN"].startswith("xoxb-")
    assert values["SLACK_APP_TOKEN"].startswith("xapp-")


def test_slack_option_serves_workspace(
    slack_sandbox: dict[str, str],
) -> None:
    values = slack_sandbox
    web = WebClient(token=values["SLACK_BOT_TOKEN"], base_url=values["SLACK_API_URL"])

    identity = web.auth_test()
    people = {
        member["name"]: member["real_name"]
        for member in web.users_list()["members"]
        if not member["is_bot"]
    }
    channels = web.conversations_list(types="public_channel")["channels"]
    socket_url = WebClient(base_url=values["SLACK_API_URL"]).apps_connections_open(
        app_token=values["SLACK_APP_TOKEN"]
    )["url"]

    # config.py names the bot incidentbot unless INCIDENT_BOT_NAME is set.
    assert identity["user"] == "incidentbot"
    assert people == {
        "alice": "Alice Archer",
        "bob": "Bob Baker",
        "carol": "Carol Chen",
    }
    assert [(c["name"], c["is_member"]) for c in channels] == [("incidents", True)]
    assert socket_url.startswith("ws://127.0.0.1:")


def test_unknown_method_logged_on_stderr(tmp_path: Path) -> None:
    process, values = start_sandbox(tmp_path)
    try:
        response = requests.post(
            f"{values['SLACK_API_URL']}files.upload",
            headers={"Authorization": f"Bearer {values['SLACK_BOT_TOKEN']}"},
            timeout=5,
        )
    finally:
        _, stderr = stop(process, signal.SIGTERM)

    assert response.json() == {"ok": False, "error": "unknown_method"}
    assert "unknown Slack Web API method files.upload was called" in stderr
    assert process.returncode == 0


# python -m sandbox: PagerDuty options


@contextmanager
def running_sandbox(tmp_path: Path, *arguments: str) -> Iterator[dict[str, str]]:
    """Run `python -m sandbox` with arguments and yield the variables it printed."""
    env_file = tmp_path / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--env-file", str(env_file), *arguments],
        cwd=REPO,
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_file(env_file, process, timeout=20)
        lines = env_file.read_text(encoding="utf-8").splitlines()
        yield dict(line.split("=", 1) for line in lines)
    finally:
        _, stderr = stop(process, signal.SIGTERM)
    assert process.returncode == 0, stderr


def list_services(url: str, key: str, ca_bundle: str | bool) -> requests.Response:
    return requests.get(
        f"{url}/services",
        headers={"Authorization": f"Token token={key}"},
        verify=ca_bundle,
        timeout=5,
    )


def test_pagerduty_plain_http_option(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, "--pagerduty-plain-http") as values:
        # verify=True is ignored for http:// URLs.
        response = list_services(
            values["PAGERDUTY_API_URL"], values["PAGERDUTY_API_KEY"], True
        )

    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", values["PAGERDUTY_API_URL"])
    assert values["PAGERDUTY_EVENTS_URL"] == values["PAGERDUTY_API_URL"]
    assert "PAGERDUTY_CA_BUNDLE" not in values
    assert values["PAGERDUTY_API_KEY"] == "sandbox-pagerduty-key"
    assert values["PAGERDUTY_FROM"] == "incidentbot@example.com"
    assert response.status_code == 200
    assert "Incident Manager On Call" in [
        service["name"] for service in response.json()["services"]
    ]


def test_pagerduty_api_key_option(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, "--pagerduty-api-key", "my-local-key") as values:
        url, bundle = values["PAGERDUTY_API_URL"], values["PAGERDUTY_CA_BUNDLE"]
        accepted = list_services(url, "my-local-key", bundle)
        default_key = list_services(url, "sandbox-pagerduty-key", bundle)

    assert values["PAGERDUTY_API_KEY"] == "my-local-key"
    assert url.startswith("https://127.0.0.1:")
    assert accepted.status_code == 200
    assert default_key.status_code == 401


def test_blank_pagerduty_api_key_rejected(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--pagerduty-api-key", " "],
        cwd=REPO,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        "argument --pagerduty-api-key: invalid key ' ': use a non-empty key "
        "without spaces" in result.stderr
    )


# python -m sandbox.slack_say


def test_slack_say_without_url_names_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SLACK_API_URL", raising=False)

    status = slack_say.main(["--user", "alice", "--channel", "incidents", "hi"])

    assert status == 1
    assert capsys.readouterr().err == (
        "slack_say: SLACK_API_URL is not set. Set it to the value that "
        "`python -m sandbox --slack` printed, or pass --url.\n"
    )


@pytest.mark.parametrize(
    "url",
    ["https://slack.com/api/", "http://192.0.2.10:8930/api/", "ftp://127.0.0.1/"],
)
def test_slack_say_rejects_other_hosts(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The check runs before any request, so no test traffic leaves the machine.
    monkeypatch.setenv("SLACK_API_URL", url)

    status = slack_say.main(["--user", "alice", "--channel", "incidents", "hi"])

    error = capsys.readouterr().err
    assert status == 1
    assert f"SLACK_API_URL is {url!r}, which is not the Slack sandbox" in error


def test_slack_say_sandbox_url_forms() -> None:
    assert slack_say.sandbox_url("http://127.0.0.1:8930/api/") == (
        "http://127.0.0.1:8930"
    )
    assert slack_say.sandbox_url("http://localhost:8930") == "http://localhost:8930"
    assert slack_say.sandbox_url("http://[::1]:8930/api") == "http://[::1]:8930"


def test_slack_say_needs_text_or_reaction() -> None:
    with pytest.raises(SystemExit) as raised:
        slack_say.main(["--user", "alice", "--channel", "incidents"])

    assert raised.value.code == 2


def test_slack_say_without_bot_explains(
    slack_sandbox: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = slack_sandbox

    status = slack_say.main(
        [
            *("--url", values["SLACK_API_URL"]),
            *("--user", "alice", "--channel", "incidents"),
            DECLARE,
        ]
    )

    error = capsys.readouterr().err
    assert status == 1
    assert "no Socket Mode client is connected" in error
    assert "Start the bot with SLACK_API_URL pointing at this sandbox" in error


def test_slack_say_unknown_person_lists_people(
    slack_sandbox: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = slack_sandbox

    status = slack_say.main(
        [
            *("--url", values["SLACK_API_URL"]),
            *("--user", "dave", "--channel", "incidents"),
            "hello",
        ]
    )

    assert status == 1
    assert capsys.readouterr().err == (
        "slack_say: the Slack sandbox rejected the request: no person 'dave' "
        "in the sandbox; use one of: alice, bob, carol\n"
    )


# scripts/run-bot --slack with slack_say from a second process


def say(url: str, *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.slack_say", "--url", url, *arguments],
        cwd=REPO,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_run_bot_slack_declares_through_slack_say(tmp_path: Path) -> None:
    # The two-terminal flow of the operator guide: run-bot --slack in one,
    # slack_say in the other, then Ctrl-C, which reaches the process group.
    bot = subprocess.Popen(
        [str(REPO / "scripts" / "run-bot"), "--slack"],
        cwd=tmp_path,
        env=environment(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    errbot_log = tmp_path / "data" / "sandbox" / "errbot.log"
    sandbox_log = tmp_path / "data" / "sandbox" / "sandbox.log"
    try:
        wait_for_file(errbot_log, bot, timeout=30)
        deadline = time.monotonic() + 30
        while "Plugin activation done." not in errbot_log.read_text("utf-8"):
            assert bot.poll() is None, "run-bot exited before the bot connected"
            assert time.monotonic() < deadline, "the bot did not connect in 30 s"
            time.sleep(0.1)
        url = re.search(r"^SLACK_API_URL=(\S+)$", sandbox_log.read_text(), re.M)
        assert url is not None, sandbox_log.read_text()
        declared = say(
            url.group(1), "--user", "alice", "--channel", "incidents", DECLARE
        )
        updated = say(
            url.group(1),
            *("--user", "bob", "--channel", "inc-1"),
            "!incident update Rolling back the 14:05 deploy",
        )
    finally:
        stdout, stderr = stop(bot, signal.SIGINT, group=True)

    assert re.match(r"alice posted in incidents \[ts \d+\.\d{6}\]\n", declared)
    assert re.search(
        r"^#incidents incidentbot \[ts [\d.]+\]: Declared S2 incident "
        r"infra/production#1: Checkout errors$",
        declared,
        re.MULTILINE,
    ), declared
    assert re.search(
        r"^#inc-1 incidentbot \[ts [\d.]+\]: Status update for infra/production#1",
        updated,
        re.MULTILINE,
    ), updated
    assert "--channel incidents '!incident declare S2 Checkout errors'" in stdout
    assert bot.returncode == 130, stderr
    assert "unknown Slack Web API method" not in sandbox_log.read_text()
    assert "Traceback" not in stderr
