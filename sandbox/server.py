"""A small JSON-over-HTTP server that runs in a daemon thread.

Both sandboxes use it: each supplies one function that turns a Request into a
Response, and this module does the sockets, parsing and keep-alive.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One HTTP request, as passed to the handler function."""

    method: str
    # Path as sent on the wire, without the query string and still
    # percent-encoded, so that "infra%2Fproduction" stays one segment.
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes

    def json_body(self) -> Any:
        """Return the body parsed as JSON, or None when there is no body.

        Raises ValueError when the body is not valid JSON.
        """
        if not self.body.strip():
            return None
        return json.loads(self.body)

    def params(self) -> dict[str, Any]:
        """Return query and body parameters merged, the body winning.

        Grape, which serves GitLab's API, reads parameters from the query
        string, a form body and a JSON body alike, so the sandbox does too.
        Raises ValueError when a JSON body is not a valid JSON object.
        """
        merged: dict[str, Any] = {}
        for key, values in self.query.items():
            name = key[:-2] if key.endswith("[]") else key
            merged[name] = values if key.endswith("[]") else values[-1]
        content_type = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" in content_type:
            form = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
            for key, values in form.items():
                name = key[:-2] if key.endswith("[]") else key
                merged[name] = values if key.endswith("[]") else values[-1]
        elif self.body.strip():
            data = self.json_body()
            if not isinstance(data, dict):
                raise ValueError("the JSON body is not an object")
            merged.update(data)
        return merged


@dataclass
class Response:
    """A handler function's result: a status, a body and headers.

    A body that is bytes or str is sent as it is, as text/plain unless
    content_type names another type. Any other body is sent as JSON.
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        """Return the body as bytes and its Content-Type."""
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "text/plain; charset=utf-8"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        if self.body is None and self.status in (202, 204):
            return b"", self.content_type or "application/json"
        payload = json.dumps(self.body, ensure_ascii=False).encode()
        return payload, self.content_type or "application/json"


Handler = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    # Handler threads must not keep the process alive, and a request that
    # sleeps in delay_next must not block stop().
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that does not trust the certificate aborts the TLS
        # handshake. That is the client's decision, not a sandbox bug.
        if isinstance(sys.exc_info()[1], ssl.SSLError):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """Serve one handler function on host:port in a background thread.

    With ssl_context it serves HTTPS, and url starts with https://.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str,
        port: int,
        name: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._handler = handler
        self._ssl_context = ssl_context
        self._host = host
        self._port = port
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, for example http://127.0.0.1:8080."""
        if self._server is None:
            raise RuntimeError(f"the {self._name} sandbox is not started")
        host, port = self._server.server_address[:2]
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{host!s}:{port}"

    def start(self) -> None:
        """Bind the socket and start serving; the port is known on return."""
        if self._server is not None:
            return
        server = _Server((self._host, self._port), _make_request_handler(self._handler))
        if self._ssl_context is not None:
            # The handshake then runs on the first read, in the request's
            # own thread, so a client that connects and sends nothing cannot
            # stall the accept loop.
            server.socket = self._ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._name}-sandbox",
            daemon=True,
        )
        thread.start()
        self._server = server
        self._thread = thread

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        server, thread = self._server, self._thread
        self._server = None
        self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _make_request_handler(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections alive, as python-gitlab's session expects.
        protocol_version = "HTTP/1.1"
        server_version = "sandbox"
        # Headers and body leave in two writes; with Nagle's algorithm on, the
        # second waits for the client's delayed ACK, about 40 ms per request.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers=self.headers,
                body=body,
            )
            response = handler(request)
            payload, content_type = response.encode()
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout provoked with delay_next).
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            # Tests read GitLabSandbox.requests instead of a stderr access log.
            return

    return RequestHandler
