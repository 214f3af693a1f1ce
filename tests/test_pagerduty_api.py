"""The PagerDuty adapter, on the real `pagerduty` client, against the HTTPS sandbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from incidentbot.pagerduty_api import (
    PagerDuty,
    PagerDutyError,
    dedup_key,
    trim_summary,
)
from tests.pagerduty_world import API_KEY, FROM, World, running_world

INCIDENT = "sre/incidents#42"
# 1,500 characters pasted from a log, ending in an emoji.
LOG_TEXT = ("ERROR db-primary-1 replication lag 93s; " * 40)[:1499] + "🔥"


@pytest.fixture
def world() -> Iterator[World]:
    with running_world() as created:
        yield created


def make_adapter(world: World, **options: object) -> PagerDuty:
    settings: dict[str, object] = {
        "events_url": world.sandbox.url,
        "api_url": world.sandbox.url,
        "api_key": API_KEY,
        "from_email": FROM,
        "ca_bundle": world.sandbox.ca_bundle,
        "timeout": 2.0,
        "backoff": 0.01,
    }
    settings.update(options)
    return PagerDuty(**settings)  # type: ignore[arg-type]


@pytest.fixture
def adapter(world: World) -> Iterator[PagerDuty]:
    with make_adapter(world) as created:
        yield created


def page(adapter: PagerDuty, world: World, service: str, text: str) -> str:
    routing_key = {
        "payments-db": world.payments_db.routing_key,
        "search-api": world.search_api.routing_key,
    }[service]
    return adapter.trigger(
        routing_key, dedup_key(INCIDENT, service), text, source="incidentbot"
    )


def assert_no_secrets(world: World, texts: list[str]) -> None:
    for text in texts:
        assert API_KEY not in text
        assert world.payments_db.routing_key not in text
        assert world.search_api.routing_key not in text


# dedup_key


def test_dedup_key_names_incident_and_service() -> None:
    assert dedup_key(INCIDENT, "payments-db") == "sre/incidents#42:payments-db"
    assert dedup_key(INCIDENT, "search-api") != dedup_key(INCIDENT, "payments-db")
    assert dedup_key("sre/incidents#43", "payments-db") != dedup_key(
        INCIDENT, "payments-db"
    )


def test_long_dedup_key_hashed_within_limit() -> None:
    reference = "group/" + "sub/" * 80 + "incidents#7"

    first = dedup_key(reference, "payments-db")
    second = dedup_key(reference, "search-api")

    assert len(first) == 255
    assert first == dedup_key(reference, "payments-db")
    assert first != second
    assert first.startswith("group/sub/")
    assert first[-17] == "~"


def test_dedup_key_rejects_empty_parts() -> None:
    with pytest.raises(ValueError, match="needs an incident reference"):
        dedup_key(INCIDENT, " ")


# trim_summary


def test_short_summary_unchanged() -> None:
    assert trim_summary("Checkout down") == "Checkout down"
    assert trim_summary("x" * 1024) == "x" * 1024


def test_long_summary_cut_at_limit() -> None:
    trimmed = trim_summary("x" * 1500)

    assert len(trimmed) == 1024
    assert trimmed == "x" * 1023 + "…"


def test_emoji_at_limit_not_split() -> None:
    # 1,023 ASCII characters and an emoji are 1,024 code points but 1,025
    # UTF-16 code units, so the emoji goes, whole.
    text = "x" * 1023 + "🔥"

    trimmed = trim_summary(text)

    assert trimmed == "x" * 1023 + "…"
    assert len(trimmed.encode("utf-16-le")) // 2 <= 1024


@pytest.mark.parametrize(
    ("cluster", "name"),
    [
        ("👩‍👩‍👧", "ZWJ family"),
        ("👍🏽", "skin tone"),
        ("e\u0301", "combining accent"),
        ("🇩🇪", "flag"),
        ("1\ufe0f\u20e3", "keycap"),
        ("❤\ufe0f", "variation selector"),
    ],
)
def test_cut_keeps_clusters_whole(cluster: str, name: str) -> None:
    for padding in range(1016, 1024):
        text = "x" * padding + cluster * 6

        trimmed = trim_summary(text)

        body = trimmed.removesuffix("…")
        assert trimmed.endswith("…"), name
        assert len(trimmed.encode("utf-16-le")) // 2 <= 1024, name
        assert body.removeprefix("x" * padding).replace(cluster, "") == "", (
            f"{name} split at padding {padding}: {body[-6:]!r}"
        )


def test_lone_surrogate_pair_not_split() -> None:
    text = "x" * 1022 + "\ud83d\udd25" + "y" * 10

    trimmed = trim_summary(text)

    assert trimmed == "x" * 1022 + "…"


def test_trim_leaves_no_trailing_space() -> None:
    trimmed = trim_summary("x" * 1020 + "   " + "y" * 10)

    assert trimmed == "x" * 1020 + "…"


# Paging: repeat triggers and re-pages (dedup_key)


def test_repeat_page_keeps_one_incident(adapter: PagerDuty, world: World) -> None:
    first = page(adapter, world, "payments-db", "Payments DB down")
    second = page(adapter, world, "payments-db", "Still down")
    open_now = adapter.find_incidents(incident_key=first)

    assert first == second == "sre/incidents#42:payments-db"
    assert len(world.sandbox.incidents()) == 1
    assert len(world.sandbox.notifications()) == 1
    assert [(i.status, i.incident_key) for i in open_now] == [("triggered", first)]
    assert open_now[0].assignees == ("Alice Archer",)
    assert open_now[0].is_open


def test_page_after_resolve_opens_new_incident(
    adapter: PagerDuty, world: World
) -> None:
    key = page(adapter, world, "payments-db", "Payments DB down")
    world.sandbox.resolve_incident(world.sandbox.incidents()[0]["id"])
    resolved_open = adapter.find_incidents(incident_key=key)

    page(adapter, world, "payments-db", "Payments DB down again")
    reopened = adapter.find_incidents(incident_key=key)

    assert resolved_open == []
    assert [i.number for i in reopened] == [2]
    assert len(world.sandbox.notifications()) == 2


def test_other_service_paged_separately(adapter: PagerDuty, world: World) -> None:
    payments = page(adapter, world, "payments-db", "Payments DB down")
    search = page(adapter, world, "search-api", "Search slow")

    assert search == "sre/incidents#42:search-api"
    assert search != payments
    assert [n["user"] for n in world.sandbox.notifications()] == [
        "Alice Archer",
        "Carol Chen",
    ]


def test_acknowledge_then_resolve(adapter: PagerDuty, world: World) -> None:
    key = page(adapter, world, "payments-db", "Payments DB down")
    routing_key = world.payments_db.routing_key

    adapter.acknowledge(routing_key, key)
    acknowledged = adapter.find_incidents(incident_key=key)
    adapter.resolve(routing_key, key)

    assert [i.status for i in acknowledged] == ["acknowledged"]
    assert adapter.find_incidents(incident_key=key) == []
    assert world.sandbox.incidents()[0]["status"] == "resolved"


def test_trigger_sends_details_and_links(adapter: PagerDuty, world: World) -> None:
    adapter.trigger(
        world.payments_db.routing_key,
        dedup_key(INCIDENT, "payments-db"),
        "Payments DB down",
        source="sre/incidents#42",
        severity="error",
        details={"severity": "S1", "lead": "alice"},
        links=[("https://gitlab.example.com/sre/incidents/-/issues/42", "Incident")],
    )

    event = world.sandbox.events[0]
    assert event["payload"]["severity"] == "error"
    assert event["payload"]["source"] == "sre/incidents#42"
    assert event["payload"]["custom_details"] == {
        "severity": "S1",
        "lead": "alice",
        "message": "Payments DB down",
    }
    assert event["links"] == [
        {
            "href": "https://gitlab.example.com/sre/incidents/-/issues/42",
            "text": "Incident",
        }
    ]


def test_trigger_rejects_bad_arguments(adapter: PagerDuty, world: World) -> None:
    routing_key = world.payments_db.routing_key

    with pytest.raises(ValueError, match="severity"):
        adapter.trigger(routing_key, "k", "Down", source="bot", severity="S1")
    with pytest.raises(ValueError, match="empty"):
        adapter.trigger(routing_key, "k", "  ", source="bot")
    with pytest.raises(ValueError, match="more than PagerDuty's 255"):
        adapter.trigger(routing_key, "k" * 256, "Down", source="bot")
    assert world.sandbox.requests == []


# Paging: refusals (oversized summary, 429, 5xx, other 400s)


def test_long_text_trimmed_with_full_details(adapter: PagerDuty, world: World) -> None:
    # The sandbox rejects a summary over 1,024 characters with 400.
    page(adapter, world, "payments-db", LOG_TEXT)

    alert = world.sandbox.alerts()[0]
    assert len(LOG_TEXT) == 1500
    assert len(alert["summary"]) <= 1024
    assert alert["summary"].endswith("…")
    assert alert["summary"].encode("utf-8").decode("utf-8") == alert["summary"]
    assert LOG_TEXT.startswith(alert["summary"][:-1])
    assert alert["custom_details"]["message"] == LOG_TEXT


def test_429_twice_then_paged_once(
    adapter: PagerDuty, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # PagerDuty answers 429, 429, then 202.
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 429, times=2, retry_after=0)

    with caplog.at_level(logging.WARNING, logger="incidentbot.pagerduty"):
        confirmed = page(adapter, world, "payments-db", "Payments DB down")

    attempts = world.sandbox.enqueue_attempts
    assert confirmed == "sre/incidents#42:payments-db"
    assert [a["dedup_key"] for a in attempts] == [confirmed] * 3
    assert len(world.sandbox.incidents()) == 1
    assert len(world.sandbox.notifications()) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "PagerDuty returned status 429 while triggering the PagerDuty alert "
        f"'{confirmed}'; retry {n} of 3 in 0.0 s"
        for n in (1, 2)
    ]
    assert_no_secrets(world, [r.getMessage() for r in caplog.records])


def test_500_every_time_reports_failure(adapter: PagerDuty, world: World) -> None:
    # PagerDuty answers 500 to every attempt.
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 500, times=100)

    with pytest.raises(PagerDutyError) as raised:
        page(adapter, world, "payments-db", "Payments DB down")

    error = raised.value
    assert error.status == 500
    assert error.attempts == 4
    assert len(world.sandbox.enqueue_attempts) == 4
    assert world.sandbox.incidents() == []
    assert str(error) == (
        "PagerDuty answered 500 (Internal error) to all 4 attempts while "
        "triggering the PagerDuty alert 'sre/incidents#42:payments-db'. The page "
        "is not confirmed: page by hand in the PagerDuty web app, or try again in "
        "a few minutes."
    )
    assert "paged" not in str(error).replace("PagerDuty", "")


def test_429_forever_bounded(world: World) -> None:
    # The library alone would retry 429 without limit.
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 429, times=100)

    with (
        make_adapter(world, max_retries=2) as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        page(adapter, world, "payments-db", "Payments DB down")

    assert raised.value.status == 429
    assert raised.value.attempts == 3
    assert len(world.sandbox.enqueue_attempts) == 3
    assert "Requests for this service are arriving too quickly" in str(raised.value)


def test_long_retry_after_fails_at_once(adapter: PagerDuty, world: World) -> None:
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 429, times=5, retry_after=120)
    started = time.monotonic()

    with pytest.raises(PagerDutyError) as raised:
        page(adapter, world, "payments-db", "Payments DB down")

    assert time.monotonic() - started < 1.5
    assert len(world.sandbox.enqueue_attempts) == 1
    assert str(raised.value).startswith(
        "PagerDuty answered 429 and asked to retry after 120 s, longer than the "
        "30 s the bot waits, while triggering"
    )


def test_hour_long_retry_after_wording(adapter: PagerDuty, world: World) -> None:
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 429, retry_after=7200)

    with pytest.raises(PagerDutyError) as raised:
        page(adapter, world, "payments-db", "Payments DB down")

    text = str(raised.value)
    assert "asked to retry after 2 h, longer than the 30 s the bot waits" in text
    assert text.endswith(
        "The page is not confirmed: page by hand in the PagerDuty web app."
    )
    assert "few minutes" not in text


def test_retry_after_waited_for(adapter: PagerDuty, world: World) -> None:
    world.sandbox.fail_next("POST", r"^/v2/enqueue$", 503, retry_after=1)
    started = time.monotonic()

    page(adapter, world, "payments-db", "Payments DB down")

    assert time.monotonic() - started >= 1.0
    assert len(world.sandbox.enqueue_attempts) == 2


def test_other_400_not_retried(adapter: PagerDuty, world: World) -> None:
    with pytest.raises(PagerDutyError) as raised:
        adapter.trigger("0" * 32, "k", "Down", source="incidentbot")

    assert raised.value.status == 400
    assert raised.value.attempts == 1
    assert len(world.sandbox.enqueue_attempts) == 1
    assert str(raised.value) == (
        "PagerDuty rejected the request with 400 (Event object is invalid: "
        "Invalid routing key) while triggering the PagerDuty alert 'k'. Check the "
        "service's routing key (integration key) in the settings."
    )


def test_timeout_retried_then_reported(world: World) -> None:
    world.sandbox.delay_next("POST", r"^/v2/enqueue$", 1.5, times=2)

    with (
        make_adapter(world, timeout=0.3, max_retries=1) as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        page(adapter, world, "payments-db", "Payments DB down")

    assert raised.value.status is None
    assert raised.value.attempts == 2
    assert str(raised.value).startswith(
        "PagerDuty did not answer within 0.3 s (2 attempts) while triggering"
    )


def test_timeout_then_answer_pages_once(world: World) -> None:
    # The stalled first attempt is still processed, and the retry with the
    # same dedup_key only adds a trigger to that alert.
    world.sandbox.delay_next("POST", r"^/v2/enqueue$", 0.5)

    with make_adapter(world, timeout=0.2, backoff=0.6) as adapter:
        page(adapter, world, "payments-db", "Payments DB down")

    assert len(world.sandbox.incidents()) == 1
    assert len(world.sandbox.notifications()) == 1


# REST API


def test_create_incident_pages_policy(adapter: PagerDuty, world: World) -> None:
    incident = adapter.create_incident(
        world.payments_db.id,
        "Checkout down",
        dedup_key(INCIDENT, "liaison"),
        escalation_policy_id=world.search_policy,
        details="S1 verified by alice",
    )

    assert incident.title == "Checkout down"
    assert incident.status == "triggered"
    assert incident.incident_key == "sre/incidents#42:liaison"
    assert incident.assignees == ("Carol Chen",)
    assert incident.html_url.startswith(world.sandbox.url)
    assert [n["user"] for n in world.sandbox.notifications()] == ["Carol Chen"]


def test_create_incident_long_title_trimmed(adapter: PagerDuty, world: World) -> None:
    incident = adapter.create_incident(world.payments_db.id, LOG_TEXT, "k")

    assert len(incident.title) <= 1024
    assert incident.title.endswith("…")


def test_create_incident_needs_from(world: World) -> None:
    with (
        make_adapter(world, from_email=None) as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        adapter.create_incident(world.payments_db.id, "Checkout down", "k")

    assert "set PAGERDUTY_FROM" in str(raised.value)
    assert raised.value.attempts == 0
    assert world.sandbox.requests == []


def test_create_incident_unknown_from(world: World) -> None:
    with (
        make_adapter(world, from_email="nobody@example.com") as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        adapter.create_incident(world.payments_db.id, "Checkout down", "k")

    assert raised.value.status == 400
    assert str(raised.value) == (
        "PagerDuty rejected the request with 400 (Requester User Not Found) while "
        f"creating a PagerDuty incident on service {world.payments_db.id}. Check "
        "the service id and that PAGERDUTY_FROM is the e-mail address of a "
        "PagerDuty user."
    )


def test_create_incident_retry_finds_first(world: World) -> None:
    # The first POST stalls past the timeout but still opens the incident,
    # so PagerDuty rejects the retry as a duplicate.
    world.sandbox.delay_next("POST", r"^/incidents$", 0.5)

    with make_adapter(world, timeout=0.2, backoff=0.6) as adapter:
        incident = adapter.create_incident(world.payments_db.id, "Checkout down", "k")

    assert [i["id"] for i in world.sandbox.incidents()] == [incident.id]
    assert incident.incident_key == "k"
    assert world.sandbox.requests.count(("POST", "/incidents")) == 2


def test_services_listed(adapter: PagerDuty) -> None:
    services = adapter.services()

    assert [(s.name, s.escalation_policy_name) for s in services] == [
        ("payments-db", "Databases"),
        ("search-api", "Search"),
    ]


def test_rest_5xx_retried(adapter: PagerDuty, world: World) -> None:
    world.sandbox.fail_next("GET", r"^/services$", 502, times=2)

    services = adapter.services()

    assert len(services) == 2
    assert world.sandbox.requests.count(("GET", "/services")) == 3


def test_rest_rate_limit_reset_honoured(adapter: PagerDuty, world: World) -> None:
    world.sandbox.fail_next(
        "GET", r"^/services$", 429, headers={"ratelimit-reset": "90"}
    )

    with pytest.raises(PagerDutyError) as raised:
        adapter.services()

    assert "asked to retry after 90 s" in str(raised.value)


def test_on_call_for_escalation_policy(adapter: PagerDuty, world: World) -> None:
    entries = adapter.on_call(escalation_policy_id=world.databases_policy)

    assert [(e.escalation_level, e.user_name, e.user_email) for e in entries] == [
        (1, "Alice Archer", "alice@example.com"),
        (2, "Bob Baker", "bob@example.com"),
    ]
    assert entries[0].schedule_id == world.database_schedule
    assert entries[1].schedule_id is None


def test_on_call_for_schedule(adapter: PagerDuty, world: World) -> None:
    world.sandbox.set_on_call(world.search_schedule, world.bob)

    entries = adapter.on_call(schedule_id=world.search_schedule)
    unused = adapter.on_call(schedule_id=world.unused_schedule)

    assert [e.user_name for e in entries] == ["Bob Baker"]
    assert unused == []


def test_on_call_needs_one_target(adapter: PagerDuty) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        adapter.on_call()


def test_wrong_api_key_reported(world: World) -> None:
    with (
        make_adapter(world, api_key="not-the-key-9f1c") as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        adapter.services()

    assert raised.value.status == 401
    assert str(raised.value) == (
        "PagerDuty rejected the request with 401 (Authentication failed) while "
        "listing PagerDuty services. Check PAGERDUTY_API_KEY."
    )
    assert "9f1c" not in str(raised.value)


def test_rest_not_configured(world: World) -> None:
    with (
        make_adapter(world, api_key=None) as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        adapter.services()

    assert str(raised.value) == (
        "The PagerDuty REST API is not configured: set PAGERDUTY_API_URL and "
        "PAGERDUTY_API_KEY."
    )


# TLS and configuration


def test_without_ca_bundle_certificate_rejected(world: World) -> None:
    with (
        make_adapter(world, ca_bundle=None) as adapter,
        pytest.raises(PagerDutyError) as raised,
    ):
        page(adapter, world, "payments-db", "Payments DB down")

    assert raised.value.status is None
    assert raised.value.attempts == 1
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert str(raised.value).startswith(
        "The TLS certificate of PagerDuty at 127.0.0.1:"
    )
    assert world.sandbox.requests == []


def test_plain_http_url_rejected() -> None:
    with pytest.raises(
        ValueError, match="only accepts https:// URLs; set PAGERDUTY_EVENTS_URL"
    ):
        PagerDuty(events_url="http://127.0.0.1:9")


def test_missing_ca_bundle_rejected() -> None:
    with pytest.raises(ValueError, match="is not a file"):
        PagerDuty(events_url="https://127.0.0.1:9", ca_bundle="/nonexistent/ca.pem")


def test_connection_refused_reported(world: World) -> None:
    url = world.sandbox.url
    adapter = make_adapter(world, max_retries=1)
    world.sandbox.stop()

    with adapter, pytest.raises(PagerDutyError) as raised:
        page(adapter, world, "payments-db", "Payments DB down")

    host = url.removeprefix("https://")
    assert raised.value.attempts == 2
    assert str(raised.value).startswith(f"Could not connect to PagerDuty at {host} (")
    assert "page by hand" in str(raised.value)


def test_errors_and_logs_hold_no_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.sandbox.fail_next("*", ".", 503, times=100)
    messages: list[str] = []

    with caplog.at_level(logging.DEBUG), make_adapter(world, max_retries=1) as adapter:
        for call in (
            lambda: page(adapter, world, "payments-db", "Down"),
            lambda: adapter.acknowledge(world.search_api.routing_key, "k"),
            adapter.services,
            lambda: adapter.create_incident(world.payments_db.id, "Down", "k"),
        ):
            with pytest.raises(PagerDutyError) as raised:
                call()
            messages.append(str(raised.value))

    assert len(messages) == 4
    assert_no_secrets(world, messages + [r.getMessage() for r in caplog.records])
