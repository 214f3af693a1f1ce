"""Build the PagerDuty adapter from the bot's configuration, or state why paging is off.

The endpoints and secrets come from config.py, which reads the environment:
PAGERDUTY_API_KEY and PAGERDUTY_FROM for REST calls, PAGERDUTY_API_URL and
PAGERDUTY_EVENTS_URL for the endpoints, PAGERDUTY_CA_BUNDLE for a private CA
(the sandbox's). With an API key and no URLs the bot uses PagerDuty's own
endpoints. With neither, paging is off, so that a bot tried out without an
account never sends anything to PagerDuty.
"""

from __future__ import annotations

import logging
from typing import Any

from incidentbot.escalation_settings import PagerDutyLimits
from incidentbot.pagerduty_api import PagerDuty
from incidentbot.paging import PagerDutySetup

log = logging.getLogger(__name__)

PAGERDUTY_API = "https://api.pagerduty.com"
PAGERDUTY_EVENTS = "https://events.pagerduty.com"
PAGING_OFF = (
    "Paging is off because PagerDuty is not set up: set PAGERDUTY_API_KEY and "
    "PAGERDUTY_FROM (or PAGERDUTY_EVENTS_URL) and restart the bot. Until then, "
    "page by hand in the PagerDuty web app or phone app."
)


def connect_pagerduty(config: Any, limits: PagerDutyLimits) -> PagerDutySetup:
    api_key = getattr(config, "PAGERDUTY_API_KEY", None) or None
    api_url = getattr(config, "PAGERDUTY_API_URL", None) or None
    events_url = getattr(config, "PAGERDUTY_EVENTS_URL", None) or None
    if api_key is None and events_url is None:
        return PagerDutySetup(None, rest=False, off_reason=PAGING_OFF)
    if api_key is not None:
        api_url = api_url or PAGERDUTY_API
        events_url = events_url or PAGERDUTY_EVENTS
    try:
        client = PagerDuty(
            events_url=str(events_url),
            api_url=api_url if api_key else None,
            api_key=api_key,
            from_email=getattr(config, "PAGERDUTY_FROM", None) or None,
            ca_bundle=getattr(config, "PAGERDUTY_CA_BUNDLE", None) or None,
            timeout=limits.request_timeout,
            max_retries=limits.max_retries,
            max_retry_after=limits.max_retry_after,
        )
    except (ValueError, OSError) as error:
        log.error("paging is off: %s", error)
        reason = (
            f"Paging is off because the PagerDuty configuration is invalid: {error}. "
            "Fix it and restart the bot; until then, page by hand in PagerDuty."
        )
        return PagerDutySetup(None, rest=False, off_reason=reason)
    return PagerDutySetup(client, rest=api_key is not None)
