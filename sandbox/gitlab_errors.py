"""Error responses of the GitLab sandbox, raised by handlers to stop early."""

from __future__ import annotations

from typing import Any

from sandbox.server import Response


class ApiError(Exception):
    """An error response that a handler raises to stop early."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.response = Response(status, body)


def not_found(what: str) -> ApiError:
    """Return GitLab's 404 for a missing resource, such as "Project"."""
    return ApiError(404, {"message": f"404 {what} Not Found"})


def bad_request(body: Any) -> ApiError:
    return ApiError(400, body)


def record_not_found() -> ApiError:
    """Return GitLab's 404 for a failed record lookup inside an endpoint.

    GitLab's API turns ActiveRecord::RecordNotFound into this body, with a
    lower-case "found", for example for a missing target issue of a link.
    """
    return ApiError(404, {"message": "404 Not found"})
