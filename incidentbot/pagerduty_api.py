"""The bot's PagerDuty adapter: paging through Events API v2 and REST API v2 calls.

Built on the `pagerduty` package (python-pagerduty 7.x). Every request has a
timeout. Responses with status 429 or 5xx, and network errors, are retried a
bounded number of times after the wait that PagerDuty requests in
Retry-After or ratelimit-reset, or else after an exponential backoff. A
requested wait longer than max_retry_after fails at once. Retries cannot
page twice: events carry a dedup_key and REST incidents an incident_key.
Every failure reaches the caller as one PagerDutyError that names what the
bot was doing. The API key and routing keys never appear in logs or errors.

The real service is at https://api.pagerduty.com (REST) and
https://events.pagerduty.com (Events), and the client accepts only https://
URLs, so tests run against `sandbox.pagerduty.PagerDutySandbox(tls=True)`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import ssl
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import pagerduty

from incidentbot.service_error import ServiceError

log = logging.getLogger("incidentbot.pagerduty")

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
# Limits of the Events API v2 ("Send an Alert Event"): payload.summary and
# dedup_key. The Incident Creation API limits titles to the same length.
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
SEVERITIES = ("critical", "error", "warning", "info")
OPEN_STATUSES = ("triggered", "acknowledged")
ELLIPSIS = "…"

# Final advice in error sentences, by kind of operation.
PAGE_BY_HAND = (
    "The page is not confirmed: page by hand in the PagerDuty web app, or try "
    "again in a few minutes."
)
TRY_LATER = "Try again in a few minutes."
CHECK_ROUTING_KEY = "Check the service's routing key (integration key) in the settings."
CHECK_REST_SETTINGS = "Check PAGERDUTY_API_KEY and the PagerDuty ids in the settings."
CHECK_FROM = (
    "Check the service id and that PAGERDUTY_FROM is the e-mail address of a "
    "PagerDuty user."
)


class PagerDutyError(ServiceError):
    """One error family: what the bot was doing, PagerDuty's status and message.

    status is the HTTP status of PagerDuty's last response, or None when no
    response came (a timeout or a connection failure). attempts counts the
    requests sent. str(error) is one sentence for chat and logs, without the
    API key or routing keys.
    """

    service = "PagerDuty"

    def __init__(
        self,
        action: str,
        status: int | None,
        message: str,
        *,
        sentence: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(action, status, message, sentence=sentence)
        self.attempts = attempts


@dataclass(frozen=True)
class Service:
    """A PagerDuty service and the escalation policy it pages."""

    id: str
    name: str
    escalation_policy_id: str
    escalation_policy_name: str
    html_url: str


@dataclass(frozen=True)
class Incident:
    """A PagerDuty incident as the bot reports it."""

    id: str
    number: int
    title: str
    status: str
    urgency: str
    incident_key: str
    service_id: str
    html_url: str
    # Display names of the people it is assigned to, in PagerDuty's order.
    assignees: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class OnCall:
    """One person on call at one level of an escalation policy."""

    user_id: str
    user_name: str
    user_email: str
    escalation_level: int
    escalation_policy_id: str
    # None when the escalation rule names the user directly.
    schedule_id: str | None
    # ISO 8601 times of the shift, or None for a user named directly.
    start: str | None
    end: str | None


# Text helpers


def dedup_key(incident_ref: str, service_key: str) -> str:
    """Return the dedup_key for paging one service about one incident.

    The key is "<incident reference>:<service key>", for example
    "sre/incidents#42:payments-db". Every trigger, acknowledge and resolve
    for that pair, retries included, names the same PagerDuty alert, and
    another service or incident gets its own. GitLab references contain no
    colon, so two pairs never share a key. A key longer than PagerDuty's 255
    characters keeps its first 238 characters and ends with "~" and 16
    hexadecimal digits of the full key's SHA-256, so it stays stable and
    distinct. Raises ValueError for an empty reference or service key.
    """
    if not incident_ref.strip() or not service_key.strip():
        raise ValueError(
            f"a dedup_key needs an incident reference and a service key, got "
            f"{incident_ref!r} and {service_key!r}"
        )
    key = f"{incident_ref}:{service_key}"
    if len(key) <= DEDUP_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: DEDUP_KEY_MAX - 17]}~{digest}"


def trim_summary(text: str, limit: int = SUMMARY_MAX) -> str:
    """Return text cut to at most limit characters, ending in "…" when cut.

    PagerDuty does not say whether it counts code points or UTF-16 code
    units, so a cut result fits the limit by both counts. The cut never falls
    inside a surrogate pair, a combining sequence, an emoji sequence (ZWJ,
    skin tone, variation selector, tag), a flag or a keycap.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if _utf16_length(text) <= limit:
        return text
    budget = limit - len(ELLIPSIS)
    end = 0
    used = 0
    for character in text:
        size = 2 if ord(character) > 0xFFFF else 1
        if used + size > budget:
            break
        used += size
        end += 1
    while 0 < end < len(text) and _continues_cluster(text, end):
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for character in text if ord(character) > 0xFFFF)


def _continues_cluster(text: str, index: int) -> bool:
    """Tell whether text[index] belongs to the character cluster before it.

    An approximation of Unicode's extended grapheme clusters (UAX #29)
    without Hangul syllable rules.
    """
    current = ord(text[index])
    previous = ord(text[index - 1])
    if unicodedata.category(text[index]) in ("Mn", "Mc", "Me"):
        return True
    if current == 0x200D or previous == 0x200D:
        return True
    if 0x1F3FB <= current <= 0x1F3FF or 0xE0020 <= current <= 0xE007F:
        return True
    if 0xD800 <= previous <= 0xDBFF and 0xDC00 <= current <= 0xDFFF:
        return True
    if previous == 0x0D and current == 0x0A:
        return True
    if _is_regional_indicator(current) and _is_regional_indicator(previous):
        # Flags are pairs of regional indicators, counted from the start of
        # the run, so an odd count before index means index ends a pair.
        run = 0
        position = index - 1
        while position >= 0 and _is_regional_indicator(ord(text[position])):
            run += 1
            position -= 1
        return run % 2 == 1
    return False


def _is_regional_indicator(code_point: int) -> bool:
    return 0x1F1E6 <= code_point <= 0x1F1FF


# Clients


class _RetryableStatus(Exception):
    """A 429 or 5xx response, raised out of the library's own retry loop."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


class _EventsClient(pagerduty.EventsApiV2Client):
    def postprocess(self, response: httpx2.Response) -> None:
        # pagerduty 7.2 calls postprocess on every attempt, before its own
        # retry logic, so the adapter's loop decides about retries instead.
        super().postprocess(response)
        if _retryable(response.status_code):
            raise _RetryableStatus(response)


class _RestClient(pagerduty.RestApiV2Client):
    def postprocess(self, response: httpx2.Response, suffix: str | None = None) -> None:
        super().postprocess(response, suffix)
        if _retryable(response.status_code):
            raise _RetryableStatus(response)


def _check_url(url: str, variable: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        # pagerduty 7.2 raises UrlError for any other scheme.
        raise ValueError(
            f"invalid PagerDuty URL {url!r}: the pagerduty client only accepts "
            f"https:// URLs; set {variable}"
        )
    return url.rstrip("/")


class PagerDuty:
    """The PagerDuty calls the bot makes.

    events_url and api_url are base URLs without a path (the real ones are
    https://events.pagerduty.com and https://api.pagerduty.com). REST calls
    need api_key, and creating an incident also needs from_email, the
    e-mail address of a PagerDuty user, which PagerDuty requires in the From
    header. ca_bundle is a PEM file of CA certificates to trust instead of
    the system's. Makes no request until a method is called.
    """

    def __init__(
        self,
        *,
        events_url: str,
        api_url: str | None = None,
        api_key: str | None = None,
        from_email: str | None = None,
        ca_bundle: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        max_retry_after: float = 30.0,
        backoff: float = 1.0,
    ) -> None:
        self.events_url = _check_url(events_url, "PAGERDUTY_EVENTS_URL")
        self.api_url = _check_url(api_url, "PAGERDUTY_API_URL") if api_url else None
        if api_key is not None and not api_key:
            raise ValueError("the PagerDuty API key is empty: set PAGERDUTY_API_KEY")
        if from_email is not None and "@" not in from_email:
            raise ValueError(
                f"invalid PAGERDUTY_FROM {from_email!r}: expected the e-mail "
                "address of a PagerDuty user"
            )
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        limits = {
            "max_retries": max_retries,
            "max_retry_after": max_retry_after,
            "backoff": backoff,
        }
        for name, value in limits.items():
            if value < 0:
                raise ValueError(f"{name} must not be negative, not {value!r}")
        self._api_key = api_key
        self._from_email = from_email
        self._verify = _tls_context(ca_bundle)
        self._timeout = float(timeout)
        self._max_retries = max_retries
        self._max_retry_after = float(max_retry_after)
        self._backoff = float(backoff)
        self._secrets: set[str] = {api_key} if api_key else set()
        self._events_clients: dict[str, _EventsClient] = {}
        self._rest_client: _RestClient | None = None
        self._clients_lock = threading.Lock()

    def close(self) -> None:
        """Close every connection pool. The adapter opens new ones if used again."""
        with self._clients_lock:
            clients: list[Any] = list(self._events_clients.values())
            if self._rest_client is not None:
                clients.append(self._rest_client)
            self._events_clients.clear()
            self._rest_client = None
        for client in clients:
            client.close()

    def __enter__(self) -> PagerDuty:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Events API v2

    def trigger(
        self,
        routing_key: str,
        dedup_key: str,
        text: str,
        *,
        source: str,
        severity: str = "critical",
        details: Mapping[str, Any] | None = None,
        links: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Send a trigger event and return the dedup_key PagerDuty confirmed.

        The summary is text trimmed to 1,024 characters (trim_summary), and
        custom_details contains details plus the full text under "message".
        links are (URL, label) pairs shown on the alert. While an alert with
        this dedup_key is open, PagerDuty adds the trigger to it and pages
        nobody. Raises ValueError for bad arguments, PagerDutyError when
        PagerDuty rejects the event or keeps failing.
        """
        _check_dedup_key(dedup_key)
        if not text.strip():
            raise ValueError(
                "the alert text is empty, but PagerDuty requires a summary"
            )
        if not source.strip():
            raise ValueError("the alert source is empty, but PagerDuty requires one")
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {severity!r}")
        custom_details = {**(details or {}), "message": text}
        link_objects = [{"href": url, "text": label} for url, label in links]
        client = self._events_client(routing_key)
        action = f"triggering the PagerDuty alert {dedup_key!r}"

        def send() -> str:
            return str(
                client.trigger(
                    trim_summary(text),
                    source,
                    dedup_key=dedup_key,
                    severity=severity,
                    custom_details=custom_details,
                    links=link_objects,
                )
            )

        return self._call(action, send, remedy=PAGE_BY_HAND, fix=CHECK_ROUTING_KEY)

    def acknowledge(self, routing_key: str, dedup_key: str) -> str:
        """Acknowledge the open alert with this dedup_key and return the dedup_key.

        PagerDuty drops an acknowledge for an alert that is not open, and
        still returns 202.
        """
        _check_dedup_key(dedup_key)
        client = self._events_client(routing_key)
        action = f"acknowledging the PagerDuty alert {dedup_key!r}"
        return self._call(
            action,
            lambda: str(client.acknowledge(dedup_key)),
            remedy=TRY_LATER,
            fix=CHECK_ROUTING_KEY,
        )

    def resolve(self, routing_key: str, dedup_key: str) -> str:
        """Resolve the open alert with this dedup_key and return the dedup_key.

        PagerDuty drops a resolve for an alert that is not open, and still
        returns 202. The next trigger with the same dedup_key opens a new
        alert and incident.
        """
        _check_dedup_key(dedup_key)
        client = self._events_client(routing_key)
        action = f"resolving the PagerDuty alert {dedup_key!r}"
        return self._call(
            action,
            lambda: str(client.resolve(dedup_key)),
            remedy=TRY_LATER,
            fix=CHECK_ROUTING_KEY,
        )

    # REST API v2

    def services(self) -> list[Service]:
        """Return every service, reading all pages."""
        client = self._rest()
        found = self._call(
            "listing PagerDuty services",
            lambda: client.list_all("services"),
            remedy=TRY_LATER,
            fix=CHECK_REST_SETTINGS,
        )
        return [_service(item) for item in found]

    def create_incident(
        self,
        service_id: str,
        title: str,
        incident_key: str,
        *,
        escalation_policy_id: str | None = None,
        details: str = "",
        urgency: str = "high",
    ) -> Incident:
        """Open an incident on a service and page its escalation policy.

        escalation_policy_id overrides the service's own policy. A title
        over 1,024 characters is trimmed like a summary, and the full title
        starts the details. incident_key (see dedup_key()) makes retries
        safe: when PagerDuty rejects a retry because the first attempt
        already opened the incident, that incident is returned. Needs
        from_email. Raises PagerDutyError.
        """
        _check_dedup_key(incident_key)
        if not title.strip():
            raise ValueError("the incident title is empty")
        if urgency not in ("high", "low"):
            raise ValueError(f"urgency must be 'high' or 'low', not {urgency!r}")
        action = f"creating a PagerDuty incident on service {service_id}"
        if not self._from_email:
            raise PagerDutyError(
                action,
                None,
                "no From address",
                sentence=(
                    f"PagerDuty needs the e-mail address of a PagerDuty user in "
                    f"the From header for {action}: set PAGERDUTY_FROM."
                ),
                attempts=0,
            )
        trimmed = trim_summary(title)
        if trimmed != title:
            details = f"{title}\n\n{details}" if details else title
        incident: dict[str, Any] = {
            "type": "incident",
            "title": trimmed,
            "service": {"id": service_id, "type": "service_reference"},
            "incident_key": incident_key,
            "urgency": urgency,
        }
        if details:
            incident["body"] = {"type": "incident_body", "details": details}
        if escalation_policy_id:
            incident["escalation_policy"] = {
                "id": escalation_policy_id,
                "type": "escalation_policy_reference",
            }
        client = self._rest()
        try:
            created = self._call(
                action,
                lambda: client.rpost("incidents", json=incident),
                remedy=PAGE_BY_HAND,
                fix=CHECK_FROM,
            )
        except PagerDutyError as error:
            if error.status != 400 or error.attempts < 2:
                raise
            # An earlier attempt may have opened the incident before its
            # response was lost, so the retry was rejected as a duplicate.
            existing = self.find_incidents(
                incident_key=incident_key, service_ids=[service_id]
            )
            if not existing:
                raise
            log.info(
                "PagerDuty incident %s with key %r was opened by an earlier attempt",
                existing[0].id,
                incident_key,
            )
            return existing[0]
        return _incident(created)

    def find_incidents(
        self,
        *,
        incident_key: str | None = None,
        service_ids: Iterable[str] = (),
        statuses: Iterable[str] = OPEN_STATUSES,
    ) -> list[Incident]:
        """Return the incidents that match every filter given, reading all pages.

        An incident opened by a trigger event has the event's dedup_key as
        its incident_key (unless alert grouping merged the alert into another
        incident), so this shows whether a page is still open.
        """
        params: dict[str, Any] = {"statuses": list(statuses)}
        if incident_key is not None:
            params["incident_key"] = incident_key
        if service_ids:
            params["service_ids"] = list(service_ids)
        client = self._rest()
        found = self._call(
            "looking up PagerDuty incidents",
            lambda: client.list_all("incidents", params=params),
            remedy=TRY_LATER,
            fix=CHECK_REST_SETTINGS,
        )
        return [_incident(item) for item in found]

    def on_call(
        self,
        *,
        escalation_policy_id: str | None = None,
        schedule_id: str | None = None,
    ) -> list[OnCall]:
        """Return who is on call now for an escalation policy or a schedule.

        Entries are sorted by escalation level. On-call entries belong to
        escalation policies, so a schedule that no escalation policy uses
        returns an empty list.
        NOTE: that follows PagerDuty's API reference for GET /oncalls and
        was not checked against a live account.
        """
        if (escalation_policy_id is None) == (schedule_id is None):
            raise ValueError("give exactly one of escalation_policy_id and schedule_id")
        params: dict[str, Any] = {"include": ["users"], "earliest": "true"}
        if escalation_policy_id is not None:
            params["escalation_policy_ids"] = [escalation_policy_id]
            action = (
                "looking up who is on call for escalation policy "
                f"{escalation_policy_id}"
            )
        else:
            params["schedule_ids"] = [schedule_id]
            action = f"looking up who is on call for schedule {schedule_id}"
        client = self._rest()
        found = self._call(
            action,
            lambda: client.list_all("oncalls", params=params),
            remedy=TRY_LATER,
            fix=CHECK_REST_SETTINGS,
        )
        entries = [_oncall(item) for item in found]
        return sorted(entries, key=lambda entry: entry.escalation_level)

    # Plumbing

    def _configure(self, client: Any) -> None:
        client.timeout = self._timeout
        # Network errors reach the adapter's loop at once.
        client.max_network_attempts = 0
        # postprocess takes 429 and 5xx out of the library's loop, which by
        # default retries 429 without limit. These documented limits still
        # bound that loop should a later version skip postprocess. A limit
        # of 0 would mean "library default", hence at least 1.
        limit = max(self._max_retries, 1)
        client.retry = {status: limit for status in (429, 500, 502, 503, 504)}
        client.max_http_attempts = limit
        client.sleep_timer = self._backoff

    def _events_client(self, routing_key: str) -> _EventsClient:
        if not routing_key.strip():
            raise ValueError("the routing key is empty: set the service's routing key")
        with self._clients_lock:
            client = self._events_clients.get(routing_key)
            if client is None:
                client = _EventsClient(
                    routing_key, base_url=self.events_url, verify=self._verify
                )
                self._configure(client)
                self._events_clients[routing_key] = client
                self._secrets.add(routing_key)
            return client

    def _rest(self) -> _RestClient:
        if self.api_url is None or self._api_key is None:
            raise PagerDutyError(
                "calling the PagerDuty REST API",
                None,
                "no API key",
                sentence=(
                    "The PagerDuty REST API is not configured: set "
                    "PAGERDUTY_API_URL and PAGERDUTY_API_KEY."
                ),
                attempts=0,
            )
        with self._clients_lock:
            if self._rest_client is None:
                client = _RestClient(
                    self._api_key,
                    default_from=self._from_email,
                    base_url=self.api_url,
                    verify=self._verify,
                )
                self._configure(client)
                self._rest_client = client
            return self._rest_client

    def _mask(self, text: str) -> str:
        with self._clients_lock:
            secrets = tuple(self._secrets)
        for secret in secrets:
            text = text.replace(secret, "[masked]")
        return text

    def _call(self, action: str, send: Callable[[], T], *, remedy: str, fix: str) -> T:
        """Run send with bounded retries, turning every failure into PagerDutyError.

        remedy ends the sentence when retries run out, fix when PagerDuty
        rejects the request.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except _RetryableStatus as failure:
                response = failure.response
                wait = self._wait_time(response.headers, attempt)
                if wait > self._max_retry_after:
                    raise self._wait_too_long(
                        action, response.status_code, wait, attempt, remedy
                    ) from None
                if attempt > self._max_retries:
                    raise self._retries_exhausted(
                        action, response, attempt, remedy
                    ) from None
                log.warning(
                    "PagerDuty returned status %d while %s; retry %d of %d in %.1f s",
                    response.status_code,
                    action,
                    attempt,
                    self._max_retries,
                    wait,
                )
            except pagerduty.HttpError as error:
                answer = error.response
                if not isinstance(answer, httpx2.Response):
                    raise PagerDutyError(
                        action, None, self._mask(str(error)), attempts=attempt
                    ) from None
                raise self._rejected(action, answer, attempt, fix) from None
            except pagerduty.Error as error:
                cause = error.__cause__
                if not isinstance(cause, httpx2.TransportError):
                    raise PagerDutyError(
                        action, None, self._mask(str(error)), attempts=attempt
                    ) from None
                if attempt > self._max_retries or _certificate_rejected(cause):
                    raise self._transport_error(
                        action, cause, attempt, remedy
                    ) from cause
                wait = self._backoff * 2 ** (attempt - 1)
                log.warning(
                    "PagerDuty request failed (%s) while %s; retry %d of %d in %.1f s",
                    type(cause).__name__,
                    action,
                    attempt,
                    self._max_retries,
                    wait,
                )
            time.sleep(wait)

    def _wait_time(self, headers: httpx2.Headers, attempt: int) -> float:
        """Return the wait PagerDuty requests, or the exponential backoff."""
        value = headers.get("Retry-After")
        if value is not None:
            seconds = _parse_retry_after(value)
            if seconds is not None:
                return seconds
        # The REST API's rate limiter sends ratelimit-reset in seconds.
        reset = headers.get("ratelimit-reset")
        if reset is not None and reset.strip().isdigit():
            return float(reset)
        return self._backoff * 2 ** (attempt - 1)

    def _wait_too_long(
        self, action: str, status: int, wait: float, attempts: int, remedy: str
    ) -> PagerDutyError:
        wait_text = "an unknown time" if math.isinf(wait) else _duration(wait)
        if remedy == PAGE_BY_HAND:
            # "Try again in a few minutes" would contradict PagerDuty's wait.
            remedy = "The page is not confirmed: page by hand in the PagerDuty web app."
        return PagerDutyError(
            action,
            status,
            f"asked to retry after {wait_text}",
            sentence=(
                f"PagerDuty answered {status} and asked to retry after {wait_text}, "
                f"longer than the {self._max_retry_after:g} s the bot waits, "
                f"while {action}. {remedy}"
            ),
            attempts=attempts,
        )

    def _retries_exhausted(
        self, action: str, response: httpx2.Response, attempts: int, remedy: str
    ) -> PagerDutyError:
        status = response.status_code
        message = self._mask(_message_text(response))
        return PagerDutyError(
            action,
            status,
            message,
            sentence=(
                f"PagerDuty answered {status} ({message}) to all {attempts} "
                f"attempts while {action}. {remedy}"
            ),
            attempts=attempts,
        )

    def _rejected(
        self, action: str, response: httpx2.Response, attempts: int, fix: str
    ) -> PagerDutyError:
        status = response.status_code
        message = self._mask(_message_text(response))
        if status == 401:
            fix = "Check PAGERDUTY_API_KEY."
        if 200 <= status < 300:
            sentence = (
                f"PagerDuty answered {status} with an unexpected body ({message}) "
                f"while {action}."
            )
        else:
            sentence = (
                f"PagerDuty rejected the request with {status} ({message}) while "
                f"{action}. {fix}"
            )
        return PagerDutyError(
            action, status, message, sentence=sentence, attempts=attempts
        )

    def _transport_error(
        self, action: str, cause: httpx2.TransportError, attempts: int, remedy: str
    ) -> PagerDutyError:
        if isinstance(cause, httpx2.TimeoutException):
            seconds = f"{self._timeout:g} s"
            return PagerDutyError(
                action,
                None,
                f"no answer within {seconds}",
                sentence=(
                    f"PagerDuty did not answer within {seconds} ({attempts} "
                    f"attempts) while {action}. {remedy}"
                ),
                attempts=attempts,
            )
        url = str(cause.request.url) if _has_request(cause) else "PagerDuty"
        host = urlsplit(url).netloc or url
        reason = self._mask(" ".join(str(cause).split()))[:200]
        if _certificate_rejected(cause):
            return PagerDutyError(
                action,
                None,
                f"certificate not trusted: {reason}",
                sentence=(
                    f"The TLS certificate of PagerDuty at {host} could not be "
                    f"verified ({reason}) while {action}. Check the system's CA "
                    "certificates, or the CA bundle when PagerDuty is reached "
                    "through a proxy or a sandbox."
                ),
                attempts=attempts,
            )
        return PagerDutyError(
            action,
            None,
            f"cannot connect to {host}",
            sentence=(
                f"Could not connect to PagerDuty at {host} ({reason}) while "
                f"{action}. {remedy}"
            ),
            attempts=attempts,
        )


def _duration(seconds: float) -> str:
    """Format a wait as "120 s", "15 min", "2 h" or "3 d", so long waits read well."""
    if seconds <= 180:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def _tls_context(ca_bundle: str | Path | None) -> ssl.SSLContext | bool:
    """Return the verify argument for httpx2: a context for ca_bundle, or True."""
    if ca_bundle is None:
        return True
    path = Path(ca_bundle)
    if not path.is_file():
        raise ValueError(f"the PagerDuty CA bundle {str(path)!r} is not a file")
    return ssl.create_default_context(cafile=str(path))


def _check_dedup_key(key: str) -> None:
    if not key.strip():
        raise ValueError("the dedup_key is empty: build it with dedup_key()")
    if len(key) > DEDUP_KEY_MAX:
        raise ValueError(
            f"the dedup_key has {len(key)} characters, more than PagerDuty's "
            f"{DEDUP_KEY_MAX}; build it with dedup_key()"
        )


def _has_request(error: httpx2.TransportError) -> bool:
    try:
        error.request  # noqa: B018 - the property raises when no request is set
    except RuntimeError:
        return False
    return True


def _certificate_rejected(error: BaseException) -> bool:
    # httpx2 reports a failed verification as a ConnectError whose text is
    # OpenSSL's, and retrying cannot fix it.
    return isinstance(
        error, httpx2.ConnectError
    ) and "CERTIFICATE_VERIFY_FAILED" in str(error)


def _parse_retry_after(value: str) -> float | None:
    """Return Retry-After in seconds (a number or an HTTP date), or None."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else math.inf
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _message_text(response: httpx2.Response) -> str:
    """Return PagerDuty's error message as one short line.

    REST errors are {"error": {"message", "errors"}}, Events API errors
    {"message", "errors"}; other bodies are shown as text.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, dict):
        nested = body.get("error")
        error: dict[str, Any] = nested if isinstance(nested, dict) else body
        message = str(error.get("message") or "")
        details = [str(item) for item in error.get("errors") or () if item]
        text = f"{message}: {'; '.join(details)}" if details else message
    elif body is None:
        text = response.text
    text = " ".join(text.split())
    if not text or text.startswith("<"):
        # For an empty body or a proxy's HTML page, the status line is clearer.
        try:
            text = f"{response.status_code} {HTTPStatus(response.status_code).phrase}"
        except ValueError:
            text = str(response.status_code)
    if len(text) > 300:
        text = text[:297] + "..."
    return text


def _service(data: Mapping[str, Any]) -> Service:
    policy = data.get("escalation_policy") or {}
    return Service(
        id=str(data["id"]),
        name=str(data.get("name") or data.get("summary") or ""),
        escalation_policy_id=str(policy.get("id") or ""),
        escalation_policy_name=str(policy.get("summary") or ""),
        html_url=str(data.get("html_url") or ""),
    )


def _incident(data: Mapping[str, Any]) -> Incident:
    assignees = tuple(
        str((item.get("assignee") or {}).get("summary") or "")
        for item in data.get("assignments") or ()
    )
    return Incident(
        id=str(data["id"]),
        number=int(data.get("incident_number") or 0),
        title=str(data.get("title") or ""),
        status=str(data.get("status") or ""),
        urgency=str(data.get("urgency") or ""),
        incident_key=str(data.get("incident_key") or ""),
        service_id=str((data.get("service") or {}).get("id") or ""),
        html_url=str(data.get("html_url") or ""),
        assignees=assignees,
    )


def _oncall(data: Mapping[str, Any]) -> OnCall:
    user = data.get("user") or {}
    schedule = data.get("schedule") or {}
    return OnCall(
        user_id=str(user.get("id") or ""),
        user_name=str(user.get("name") or user.get("summary") or ""),
        user_email=str(user.get("email") or ""),
        escalation_level=int(data.get("escalation_level") or 0),
        escalation_policy_id=str((data.get("escalation_policy") or {}).get("id") or ""),
        schedule_id=str(schedule["id"]) if schedule.get("id") else None,
        start=data.get("start"),
        end=data.get("end"),
    )
