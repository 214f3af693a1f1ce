"""Placeholder PagerDuty sandbox: accepts events and lists no incidents.

It handles the two calls the bot makes so that `python -m sandbox` can hand
out working PagerDuty URLs: POST /v2/enqueue (Events API v2) and GET
/incidents (REST API). It checks no routing keys or tokens yet.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from sandbox.server import LocalServer, Request, Response


class PagerDutySandbox:
    """PagerDuty stub served on 127.0.0.1 in a background thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = LocalServer(self._handle, host=host, port=port, name="pagerduty")

    @property
    def url(self) -> str:
        """Base URL; both the REST and the Events API are served under it."""
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def _handle(self, request: Request) -> Response:
        method = request.method.upper()
        if method == "POST" and request.path == "/v2/enqueue":
            return self._enqueue(request)
        if method == "GET" and request.path == "/incidents":
            return Response(
                200,
                {
                    "incidents": [],
                    "limit": 25,
                    "offset": 0,
                    "more": False,
                    "total": None,
                },
            )
        return Response(404, {"error": {"message": "Not Found", "code": 2100}})

    def _enqueue(self, request: Request) -> Response:
        try:
            event = request.json_body()
        except ValueError:
            event = None
        if not isinstance(event, dict):
            return Response(
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["The request body is not a JSON object"],
                },
            )
        dedup_key = str(event.get("dedup_key") or uuid.uuid4().hex)
        with self._lock:
            self.events.append(event)
        return Response(
            202,
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
        )
