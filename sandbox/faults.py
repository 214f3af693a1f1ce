"""Failures and delays that tests inject into an emulator's next requests."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from sandbox.server import Request


@dataclass
class Fault:
    """One injected failure or delay, used by the next matching requests."""

    method: str  # "*" for any
    pattern: re.Pattern[str]  # searched in the request path
    remaining: int
    status: int = 0
    seconds: float = 0.0
    retry_after: int | None = None
    body: Any = None  # None for the emulator's default error body
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, request: Request) -> bool:
        method_matches = self.method in ("*", request.method.upper())
        return method_matches and bool(self.pattern.search(request.path))

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class Faults:
    """The pending failures and delays of one emulator."""

    def __init__(self, lock: threading.RLock | threading.Lock) -> None:
        self._lock = lock
        self.failures: list[Fault] = []
        self.delays: list[Fault] = []

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int,
        retry_after: int | None,
        body: Any,
        headers: dict[str, str] | None,
    ) -> None:
        """Fail the next `times` matching requests. times=0 cancels earlier ones."""
        if times == 0:
            self._cancel(self.failures, method, path_pattern)
            return
        fault = Fault(
            method.upper(),
            re.compile(path_pattern),
            times,
            status=status,
            retry_after=retry_after,
            body=body,
            headers=dict(headers or {}),
        )
        with self._lock:
            self.failures.append(fault)

    def delay(
        self, method: str, path_pattern: str, seconds: float, *, times: int
    ) -> None:
        """Stall the next `times` matching requests. times=0 cancels earlier ones."""
        if times == 0:
            self._cancel(self.delays, method, path_pattern)
            return
        fault = Fault(method.upper(), re.compile(path_pattern), times, seconds=seconds)
        with self._lock:
            self.delays.append(fault)

    def take(self, request: Request) -> tuple[Fault | None, Fault | None]:
        """Use up the delay and the failure that match a request, if any.

        The caller must hold the emulator's lock.
        """
        return _take(self.delays, request), _take(self.failures, request)

    def _cancel(self, faults: list[Fault], method: str, path_pattern: str) -> None:
        with self._lock:
            faults[:] = [
                fault
                for fault in faults
                if (fault.method, fault.pattern.pattern)
                != (method.upper(), path_pattern)
            ]


def _take(faults: list[Fault], request: Request) -> Fault | None:
    for fault in faults:
        if fault.matches(request):
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
            return fault
    return None
