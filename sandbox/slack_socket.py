"""The Socket Mode side of the Slack sandbox: a WebSocket server on 127.0.0.1.

apps.connections.open issues single-use URLs with a ticket. A client that
connects with one receives a hello frame and then the envelopes that tests
deliver. The server records each acknowledgement and how long it took.
The server runs an asyncio loop in a daemon thread, and the methods here
are called from other threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from concurrent.futures import Future
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sandbox.slack_events import disconnect_message, hello_message
from sandbox.slack_store import APP_ID

log = logging.getLogger("sandbox.slack")

# Seconds to wait for the event loop to send one frame. A local send that
# takes longer means the loop is stuck.
SEND_TIMEOUT = 5.0


class SocketModeServer:
    """WebSocket server that speaks Slack's Socket Mode protocol."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._state = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._opened = 0
        self._sent_at: dict[str, float] = {}
        self.acks: list[dict[str, Any]] = []
        self.unexpected_frames: list[Any] = []

    # Lifecycle

    @property
    def url(self) -> str:
        """Base URL, for example ws://127.0.0.1:8081."""
        if self._server is None:
            raise RuntimeError("the Slack Socket Mode server is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}"

    def start(self) -> None:
        """Start the event loop thread and listen. The port is known on return."""
        if self._server is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="slack-socket-mode", daemon=True
        )
        thread.start()
        self._loop = loop
        self._thread = thread
        opening = asyncio.run_coroutine_threadsafe(self._open(), loop)
        self._server = opening.result(timeout=SEND_TIMEOUT)

    async def _open(self) -> Server:
        return await serve(
            self._serve_connection,
            self._host,
            self._port,
            process_request=self._check_ticket,
        )

    def stop(self) -> None:
        """Close every connection, stop listening and end the loop thread."""
        loop, thread, server = self._loop, self._thread, self._server
        self._loop = self._thread = self._server = None
        if loop is None:
            return
        if server is not None:
            closing = asyncio.run_coroutine_threadsafe(self._close(server), loop)
            closing.result(timeout=SEND_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=SEND_TIMEOUT)
        loop.close()
        with self._state:
            self._connections.clear()
            self._state.notify_all()

    @staticmethod
    async def _close(server: Server) -> None:
        server.close()
        await server.wait_closed()

    # Connections

    def issue_url(self) -> str:
        """Return a new single-use URL, as apps.connections.open does."""
        ticket = secrets.token_hex(16)
        with self._state:
            self._tickets.add(ticket)
        return f"{self.url}/link/?ticket={ticket}&app_id={APP_ID}"

    def _check_ticket(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[-1]
        with self._state:
            if ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        log.warning("rejected a Socket Mode connection with an unknown or used ticket")
        return connection.respond(
            HTTPStatus.UNAUTHORIZED,
            "Unknown or used ticket: call apps.connections.open for a new URL.\n",
        )

    async def _serve_connection(self, connection: ServerConnection) -> None:
        with self._state:
            count = len(self._connections) + 1
        try:
            await connection.send(json.dumps(hello_message(count)))
        except ConnectionClosed:
            return
        # Register only after hello so that no envelope can overtake it.
        with self._state:
            self._connections.append(connection)
            self._opened += 1
            self._state.notify_all()
        log.info("Socket Mode client connected (%d open)", count)
        try:
            async for frame in connection:
                self._receive(frame)
        except ConnectionClosed:
            pass
        finally:
            with self._state:
                if connection in self._connections:
                    self._connections.remove(connection)
                remaining = len(self._connections)
                self._state.notify_all()
            log.info("Socket Mode client disconnected (%d open)", remaining)

    def _receive(self, frame: str | bytes) -> None:
        try:
            data = json.loads(frame)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("envelope_id"), str):
            log.warning("unexpected Socket Mode frame from the client: %r", frame)
            with self._state:
                self.unexpected_frames.append(frame)
            return
        envelope_id = data["envelope_id"]
        with self._state:
            sent_at = self._sent_at.get(envelope_id)
            if sent_at is None:
                log.warning("acknowledgement for unknown envelope %s", envelope_id)
            delay = None if sent_at is None else time.monotonic() - sent_at
            self.acks.append(
                {
                    "envelope_id": envelope_id,
                    "delay": delay,
                    "payload": data.get("payload"),
                }
            )
            self._state.notify_all()

    @property
    def open_connections(self) -> int:
        with self._state:
            return len(self._connections)

    @property
    def opened_connections(self) -> int:
        """Number of connections opened since start, closed ones included."""
        with self._state:
            return self._opened

    def wait_for_connection(self, timeout: float, *, total: int = 1) -> None:
        """Wait until `total` connections have been opened and one is open.

        Raises AssertionError when that does not happen within timeout
        seconds.
        """
        with self._state:
            ready = self._state.wait_for(
                lambda: self._opened >= total and bool(self._connections), timeout
            )
            opened = self._opened
        if not ready:
            raise AssertionError(
                f"expected {total} Socket Mode connection(s) within {timeout} s, "
                f"got {opened}; connect the client through apps.connections.open"
            )

    # Frames

    def send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope to the newest open connection.

        Raises RuntimeError when no client is connected or the connection
        closes during the send.
        """
        envelope_id = envelope["envelope_id"]
        with self._state:
            if not self._connections:
                raise RuntimeError(
                    f"cannot deliver envelope {envelope_id}: no Socket Mode client "
                    "is connected; connect one and call wait_for_connection() first"
                )
            connection = self._connections[-1]
            self._sent_at[envelope_id] = time.monotonic()
        try:
            self._run(connection.send(json.dumps(envelope)))
        except ConnectionClosed as error:
            raise RuntimeError(
                f"cannot deliver envelope {envelope_id}: the client closed the "
                f"connection ({error}); wait for it to reconnect and deliver again"
            ) from error

    def disconnect_all(self, reason: str, *, send_disconnect: bool) -> int:
        """Close every open connection, after a disconnect frame if asked.

        Returns the number of connections closed.
        """
        with self._state:
            connections = list(self._connections)
        frame = json.dumps(disconnect_message(reason))
        for connection in connections:
            try:
                if send_disconnect:
                    self._run(connection.send(frame))
                self._run(connection.close())
            except ConnectionClosed:
                continue
        return len(connections)

    def clear_log(self) -> None:
        """Forget the acknowledgements and unexpected frames received so far."""
        with self._state:
            self.acks.clear()
            self.unexpected_frames.clear()

    def wait_for_ack(self, envelope_id: str, timeout: float) -> float:
        """Return the seconds between delivery and acknowledgement.

        Raises AssertionError naming the envelope when no acknowledgement
        arrives within timeout seconds.
        """

        def find() -> dict[str, Any] | None:
            for ack in self.acks:
                if ack["envelope_id"] == envelope_id:
                    return ack
            return None

        with self._state:
            ack = self._state.wait_for(find, timeout)
        if ack is None:
            raise AssertionError(
                f"no acknowledgement of envelope {envelope_id} within {timeout} s"
            )
        if ack["delay"] is None:
            raise AssertionError(
                f"envelope {envelope_id} was acknowledged but never delivered"
            )
        delay: float = ack["delay"]
        return delay

    def _run(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the Slack Socket Mode server is not started")
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=SEND_TIMEOUT)
