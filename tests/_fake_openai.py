"""A small OpenAI-compatible HTTP server for tests: ``POST /v1/chat/completions`` on 127.0.0.1.

It answers like :class:`emberjit.models.SimulatedModel` (same replies for the same prompt and
temperature), after ``latency`` seconds, on its own thread per connection, so concurrency is real.
Failures are scripted: ``fail_next(429, 500)`` makes the next requests fail with those statuses
(with ``retry-after-ms`` so the client's retries are quick), ``hang=True`` makes every request
hang (until the server stops, at most ``max_hang`` seconds), and a request whose bearer token is
not ``api_key`` gets 401 as hosted endpoints answer. Every request is counted in ``requests``.

Use it as a context manager: ``with FakeOpenAI(latency=0.05) as server: server.base_url``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emberjit.models import SimulatedModel

__all__ = ["FakeOpenAI"]

_ERROR_TYPES = {401: "invalid_request_error", 404: "invalid_request_error",
                429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}


class FakeOpenAI:
    """See the module docstring."""

    def __init__(self, latency: float = 0.0, api_key: str = "test-key", hang: bool = False,
                 max_hang: float = 5.0, retry_after_ms: int = 10, n: str = "honour") -> None:
        self.latency = latency
        #: what the server does with the chat API's ``n`` (k choices in one request):
        #: "honour" it, "ignore" it (one choice), or "reject" it (HTTP 400), as servers do
        self.n = n
        self.api_key = api_key
        self.hang = hang
        self.max_hang = max_hang
        self.retry_after_ms = retry_after_ms
        self.requests = 0  # every request received, failed ones included
        self.statuses: list[int] = []  # the status of every reply, in order
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.connections: set[socket.socket] = set()
        self.handlers: list[threading.Thread] = []
        self.max_in_flight = 0
        self._failures: deque[int] = deque()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._simulated = SimulatedModel(latency=0)
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, *statuses: int) -> None:
        """The next ``len(statuses)`` requests fail with these HTTP statuses, in order."""
        with self._lock:
            self._failures.extend(statuses)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end every connection's thread (clients keep connections alive)."""
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        with self._lock:
            connections, handlers = list(self.connections), list(self.handlers)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for handler in handlers:
            handler.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering (called on the handler's thread) ---------------------------------------------

    def answer(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            failure = self._failures.popleft() if self._failures else None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if headers.get("authorization") != f"Bearer {self.api_key}":
                return self._error(401, "Incorrect API key provided.")
            if self.hang:
                self._stopped.wait(self.max_hang)
                return self._error(503, "the server hung")
            if self.latency:
                time.sleep(self.latency)
            if failure is not None:
                return self._error(failure, f"scripted failure {failure}")
            if self.n == "reject" and body.get("n", 1) != 1:
                return self._error(400, "n is not supported by this server")
            return self._record(200, self._completion(body))
        finally:
            with self._lock:
                self.in_flight -= 1

    def _error(self, status: int, message: str) -> tuple[int, dict[str, Any]]:
        return self._record(status, {"error": {"message": message,
                                               "type": _ERROR_TYPES.get(status, "error"),
                                               "param": None, "code": None}})

    def _record(self, status: int, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.statuses.append(status)
        return status, payload

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or [{"content": ""}]
        prompt = str(messages[-1].get("content", ""))
        temperature = body.get("temperature", 0.0) or 0.0
        count = int(body.get("n", 1) or 1) if self.n == "honour" else 1
        texts = [self._simulated.respond(prompt, temperature=temperature, sample=i + self.requests)
                 if count > 1 else self._simulated.respond(prompt, temperature=temperature)
                 for i in range(count)]
        text = texts[0]
        return {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": i, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": t}}
                        for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())},
        }


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default (5) drops simultaneous connects: 1 s SYN retries
    daemon_threads = True


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with server._lock:
                server.connections.add(self.connection)
                server.handlers.append(threading.current_thread())

        def finish(self) -> None:
            with server._lock:
                server.connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length) if length else b"{}"
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}",
                                           "type": "invalid_request_error"}})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = server.answer(headers, json.loads(raw or b"{}"))
            self._send(status, payload)

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if status in (429, 500, 503):
                    self.send_header("retry-after-ms", str(server.retry_after_ms))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
