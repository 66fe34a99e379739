"""A scriptable fake OpenAI-compatible chat-completions server on 127.0.0.1, for the LLM-judge tests.

Answers come from a FIFO script of :class:`Action` s (one per request); when the script is empty, a ``responder``
function of the request body decides. Every request is recorded with its arrival and finish times, and the server
tracks how many requests were in flight at once.

A server that leaks is scripted with :data:`ECHO_AUTH`: written anywhere in an answer (content, body, header values)
it is replaced by the request's ``Authorization`` header, as a proxy or a debugging endpoint that echoes requests
would. A slow one with ``drip_s``: the whole response, status line included, is sent a byte at a time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

from lam_envs.rewards.base import MMROLE_DIMENSIONS, PCOGALIGN_DIMENSIONS

ALL_DIMENSIONS = MMROLE_DIMENSIONS + PCOGALIGN_DIMENSIONS
ECHO_AUTH = "{ECHO_AUTHORIZATION}"
"""Placeholder in an :class:`Action`'s text, replaced by the request's ``Authorization`` header ("Bearer <key>")."""


@dataclass(frozen=True)
class Action:
    """What the server does with one request.

    Attributes:
        status: HTTP status.
        content: chat message content of a 200 answer (wrapped in a chat-completions body).
        body: raw response body, sent as is instead of a chat completion (for errors and broken servers).
        headers: extra response headers (e.g. ``Retry-After``).
        delay_s: wait before answering (to trip client timeouts or to make requests overlap).
        drip_s: send the response one byte at a time with this pause between bytes (0: all at once).
    """

    status: int = 200
    content: str | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drip_s: float = 0.0


def scores_json(a: float | dict[str, float] = 8, b: float | dict[str, float] = 6, dims: Iterable[str] = ALL_DIMENSIONS,
                drop: str | None = None) -> str:
    """A judge answer: ``a``/``b`` are one score for every dimension or a per-dimension dict; ``drop`` omits one."""
    def block(x: float | dict[str, float]) -> dict[str, float]:
        return {d: (x[d] if isinstance(x, dict) else x) for d in dims if d != drop}

    return json.dumps({"analysis": "B is a little weaker.", "A": block(a), "B": block(b)})


def reply(content: str, delay_s: float = 0.0) -> Action:
    return Action(content=content, delay_s=delay_s)


def error(status: int, headers: dict[str, str] | None = None, delay_s: float = 0.0) -> Action:
    return Action(status=status, body=json.dumps({"error": {"message": f"scripted {status}"}}), headers=headers or {},
                  delay_s=delay_s)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float
    finished: float = 0.0

    def user_text(self) -> str:
        """All text parts of the user messages, joined."""
        parts: list[str] = []
        for message in self.body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                parts.append(content)
            else:
                parts.extend(p["text"] for p in content if p.get("type") == "text")
        return "\n".join(parts)

    def image_urls(self) -> list[str]:
        return [p["image_url"]["url"] for m in self.body["messages"] if isinstance(m["content"], list)
                for p in m["content"] if p.get("type") == "image_url"]


def default_responder(body: dict[str, Any]) -> Action:
    return reply(scores_json())


class FakeChatServer:
    """The server; use :meth:`start` / :meth:`stop` (the ``fake_server`` fixture does)."""

    def __init__(self) -> None:
        self.script: deque[Action] = deque()
        self.responder: Callable[[dict[str, Any]], Action] = default_responder
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-chat-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def push(self, *actions: Action) -> None:
        """Queue actions for the next requests, in order."""
        with self._lock:
            self.script.extend(actions)

    def start(self) -> FakeChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts scripted delays short so handler threads finish
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next_action(self, body: dict[str, Any]) -> Action:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return self.responder(body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw)
                record = RecordedRequest(self.path, dict(self.headers.items()), body, time.monotonic())
                with server._lock:
                    server.requests.append(record)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    action = server._next_action(body)
                    if action.delay_s:
                        server._stopping.wait(action.delay_s)
                    auth = self.headers.get("Authorization", "")
                    if action.body is not None:
                        payload = action.body.replace(ECHO_AUTH, auth).encode()
                    else:
                        content = None if action.content is None else action.content.replace(ECHO_AUTH, auth)
                        payload = json.dumps({
                            "id": "chatcmpl-fake", "object": "chat.completion", "model": body.get("model"),
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": content}}],
                        }).encode()
                    headers = {"Content-Type": "application/json", "Content-Length": str(len(payload)),
                               **{k: v.replace(ECHO_AUTH, auth) for k, v in action.headers.items()}}
                    if action.drip_s:
                        head = f"HTTP/1.0 {action.status} Scripted\r\n" + "".join(
                            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
                        for byte in head.encode() + payload:
                            if server._stopping.is_set():
                                break
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            server._stopping.wait(action.drip_s)
                        return
                    self.send_response(action.status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                        record.finished = time.monotonic()

        return Handler
