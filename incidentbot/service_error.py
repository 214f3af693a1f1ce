"""The error that an adapter of a remote service (GitLab, PagerDuty) raises."""

from __future__ import annotations


class ServiceError(Exception):
    """An error of a remote service: the action, the HTTP status and the message.

    status is None when no response came (a timeout or a connection failure).
    str(error) is one sentence for chat and logs, and never contains a secret.
    Subclasses set `service` to the name people know the service by.
    """

    service = "The service"

    def __init__(
        self,
        action: str,
        status: int | None,
        message: str,
        *,
        sentence: str | None = None,
    ) -> None:
        if sentence is None:
            if status is None:
                sentence = f"{self.service} request failed ({message}) while {action}."
            else:
                sentence = (
                    f"{self.service} answered {status} ({message}) while {action}."
                )
        super().__init__(sentence)
        self.action = action
        self.status = status
        self.message = message
        self.sentence = sentence

    def __str__(self) -> str:
        return self.sentence
