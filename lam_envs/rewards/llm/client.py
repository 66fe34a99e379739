"""A small, dependency-free client for OpenAI-compatible chat-completions endpoints.

It sends ``POST {base_url}/chat/completions`` with ``model``, ``messages``, ``temperature`` and ``max_tokens`` (and
``seed``, when the caller gives one) and returns the first choice's message content. Transient failures (HTTP 429,
5xx, timeouts, refused or dropped connections) are retried with exponential backoff and jitter drawn from a generator
the caller passes, honouring a server's ``Retry-After``; other 4xx answers are not retried because sending the same
request again cannot help.

Two clocks bound a request: ``timeout_s`` limits connecting and each single read, and ``deadline_s`` limits the
whole call (connect, send, every read and every retry with its backoff), so that a server that drips its answer a
byte at a time, or keeps asking to be retried, cannot stall training beyond it.

The API key is sent only in the ``Authorization`` header. Any text that comes back from the server (error bodies,
unreadable answers, headers, even the answer itself) is scrubbed of the key before it is logged, raised or returned,
so a server or proxy that echoes the request cannot put the key into logs, exception messages or run files.

Every request and retry is counted in a :class:`JudgeStats` that a training loop can log. Nothing here reads
environment variables: the API key is an argument, and the connection is made directly to ``base_url`` (``*_proxy``
variables are not consulted), so that a stray proxy setting cannot silently reroute judge traffic (or loopback test
traffic).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import socket
import threading
import time
import urllib.parse
from collections import Counter
from datetime import timezone
from typing import Any, Literal, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

CallCause = Literal["timeout", "connection", "rate_limited", "server_error", "http_error", "bad_response"]
_RETRYABLE: frozenset[str] = frozenset({"timeout", "connection", "rate_limited", "server_error"})


class ChatError(RuntimeError):
    """A chat-completions request failed (after any retries).

    Attributes:
        cause: the failure category, used as the stats key (``"timeout"``, ``"connection"``, ``"rate_limited"``,
            ``"server_error"``, ``"http_error"``, ``"bad_response"``).
        status: the HTTP status, when the server answered.
        retry_after_s: the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self, cause: CallCause, message: str, status: int | None = None, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.cause: CallCause = cause
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.cause in _RETRYABLE


class JudgeStats:
    """Thread-safe counters of judge traffic, for logging from a training loop.

    Attributes:
        pairs: (sample, reply) pairs submitted for judging.
        calls: HTTP requests sent (first tries and retries).
        retries: re-sent requests, by the cause of the attempt that failed.
        failures: pairs that ended without a score, by cause.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pairs = 0
        self.calls = 0
        self.retries: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def add_pairs(self, n: int) -> None:
        with self._lock:
            self.pairs += n

    def add_call(self) -> None:
        with self._lock:
            self.calls += 1

    def add_retry(self, cause: str) -> None:
        with self._lock:
            self.retries[cause] += 1

    def add_failure(self, cause: str) -> None:
        with self._lock:
            self.failures[cause] += 1

    def snapshot(self) -> dict[str, int]:
        """Flat ``name -> count`` dict, e.g. ``{"calls": 9, "retries": 1, "retries/server_error": 1, ...}``."""
        with self._lock:
            out = {
                "pairs": self.pairs,
                "calls": self.calls,
                "retries": sum(self.retries.values()),
                "failures": sum(self.failures.values()),
            }
            out.update({f"retries/{k}": v for k, v in sorted(self.retries.items())})
            out.update({f"failures/{k}": v for k, v in sorted(self.failures.items())})
            return out

    def reset(self) -> None:
        with self._lock:
            self.pairs = self.calls = 0
            self.retries.clear()
            self.failures.clear()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: np.random.Generator) -> float:
    """Seconds to wait before retry number ``attempt + 1`` ("equal jitter" exponential backoff).

    The cap doubles from ``base_s`` with each attempt, up to ``max_s``; the delay is drawn uniformly from the upper
    half of it, so retries of concurrent requests spread out while each still waits at least half the cap.

    Args:
        attempt: 0 for the wait after the first failed try.
        base_s: the first cap.
        max_s: the largest cap.
        rng: source of the jitter.

    Returns:
        The delay in seconds.
    """
    cap = min(max_s, base_s * 2.0**attempt)
    return cap * (0.5 + 0.5 * float(rng.random()))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read a ``Retry-After`` header: delay seconds (``"2"``, also ``"0.5"``) or an HTTP date.

    Args:
        value: the header value, or ``None``.
        now: the current Unix time (for dates; defaults to the clock).

    Returns:
        Seconds to wait (never negative), or ``None`` if the header is absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # the caller logs it (scrubbed: the header is server text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = time.time() if now is None else now
        seconds = when.timestamp() - current
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


_MAX_BODY = 8 * 1024 * 1024
"""Largest response body read (bytes); a bigger one is a ``bad_response`` rather than a memory hazard."""
_QUOTE_CHARS = 500
"""Characters of server text quoted in an error message."""
_MIN_PARTIAL = 4
"""Shortest trailing piece of the key that :func:`scrub_secret` still cuts off (text cut inside an echoed key)."""


def scrub_secret(text: str, secret: str | None, max_chars: int | None = None) -> str:
    """``text`` without ``secret``: every copy (also JSON-escaped) becomes ``***``.

    When ``text`` was cut short (a bounded read) in the middle of an echoed key, the piece of the key it ends with is
    cut off too. Truncation to ``max_chars`` happens after scrubbing, so it can never leave a partial key behind.

    Args:
        text: server text (an error body, a header, an answer).
        secret: the API key, or ``None`` (nothing to remove).
        max_chars: keep at most this many characters (``"..."`` marks a cut).

    Returns:
        The text, safe to log or raise.
    """
    if secret:
        for form in {secret, json.dumps(secret)[1:-1]}:
            text = text.replace(form, "***")
        for n in range(min(len(secret) - 1, len(text)), _MIN_PARTIAL - 1, -1):
            if text.endswith(secret[:n]):
                text = text[:-n] + "***"
                break
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars] + "..."
    return text


class ChatClient:
    """Chat-completions client with timeouts, an overall deadline and retries.

    Args:
        base_url: endpoint root including the API version, e.g. ``"http://127.0.0.1:8000/v1"``.
        model: model name sent with each request.
        api_key: sent as ``Authorization: Bearer <key>`` when given; scrubbed from everything the server sends back.
        timeout_s: socket timeout for connecting and for each read.
        max_retries: how many times a transient failure is retried (0 = one try only).
        backoff_base_s: first backoff cap (see :func:`backoff_delay`).
        backoff_max_s: largest backoff cap.
        retry_after_max_s: the longest ``Retry-After`` honoured; a server asking for more fails the request at once
            rather than stalling training.
        deadline_s: wall-clock limit of one :meth:`complete` call: connecting, sending, every read and every retry
            (backoff waits included). A retry that could not start before it is not tried.
        stats: counters to update; a fresh one if omitted.

    Raises:
        ValueError: if ``base_url`` is not an http(s) URL or ``deadline_s`` is not positive.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 30.0,
        retry_after_max_s: float = 120.0,
        deadline_s: float = 300.0,
        stats: JudgeStats | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL such as 'http://localhost:8000/v1', got {base_url!r}")
        if not deadline_s > 0:
            raise ValueError(f"deadline_s must be > 0 seconds, got {deadline_s!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.deadline_s = deadline_s
        self.stats = stats if stats is not None else JudgeStats()

    @classmethod
    def for_config(cls, config: Any, stats: JudgeStats) -> ChatClient:
        """A client for an endpoint config (the judge's or the simulated user's: URL, model, key, timing, retries)."""
        return cls(base_url=config.base_url, model=config.model, api_key=config.resolved_api_key(),
                   timeout_s=config.timeout_s, max_retries=config.max_retries, backoff_base_s=config.backoff_base_s,
                   backoff_max_s=config.backoff_max_s, retry_after_max_s=config.retry_after_max_s,
                   deadline_s=config.deadline_s, stats=stats)

    def __repr__(self) -> str:
        return f"ChatClient(url={self.url!r}, model={self.model!r}, api_key={'***' if self._api_key else None})"

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        rng: np.random.Generator,
        temperature: float = 0.0,
        max_tokens: int = 512,
        seed: int | None = None,
    ) -> str:
        """Send one chat completion, retrying transient failures, and return the answer's text.

        Args:
            messages: OpenAI-format messages (``content`` may be a string or a list of content parts).
            rng: source of the backoff jitter (pass one generator per request for reproducible schedules).
            temperature: sampling temperature.
            max_tokens: answer length limit.
            seed: sent as the request's ``seed`` (OpenAI's field for reproducible sampling, honoured by servers
                that support it); not sent when ``None``.

        Returns:
            The first choice's message content (with the API key, should the server echo it, replaced by ``***``).

        Raises:
            ChatError: when the request failed and retries (if the cause and ``deadline_s`` allow them) are used up.
        """
        request: dict[str, Any] = {
            "model": self.model, "messages": list(messages), "temperature": temperature, "max_tokens": max_tokens
        }
        if seed is not None:
            request["seed"] = seed
        body = json.dumps(request).encode("utf-8")
        deadline = time.monotonic() + self.deadline_s
        attempt = 0
        while True:
            self.stats.add_call()
            try:
                return self._post(body, deadline)
            except ChatError as err:
                if not err.retryable or attempt >= self.max_retries or time.monotonic() >= deadline:
                    if err.retryable and self.max_retries > 0:
                        raise ChatError(
                            err.cause, f"{err} (gave up after {attempt + 1} tries)", err.status, err.retry_after_s
                        ) from None
                    raise
                delay = backoff_delay(attempt, self.backoff_base_s, self.backoff_max_s, rng)
                if err.retry_after_s is not None:
                    if err.retry_after_s > self.retry_after_max_s:
                        raise ChatError(
                            err.cause,
                            f"{err}; the server asked to retry after {err.retry_after_s:g} s, more than "
                            f"retry_after_max_s={self.retry_after_max_s:g} (raise it to wait that long)",
                            err.status,
                            err.retry_after_s,
                        ) from None
                    delay = max(delay, err.retry_after_s)
                if time.monotonic() + delay >= deadline:
                    raise ChatError(
                        err.cause,
                        f"{err}; gave up after {attempt + 1} tries: waiting {delay:.3g} s for the next one would pass "
                        f"deadline_s={self.deadline_s:g} (the limit of the whole request; raise it to keep retrying)",
                        err.status,
                        err.retry_after_s,
                    ) from None
                logger.info(
                    "chat request failed (%s); retry %d/%d in %.3f s", err, attempt + 1, self.max_retries, delay
                )
                self.stats.add_retry(err.cause)
                time.sleep(delay)
                attempt += 1

    def _scrub(self, text: str, max_chars: int | None = None) -> str:
        return scrub_secret(text, self._api_key, max_chars)

    def _post(self, body: bytes, deadline: float) -> str:
        """One HTTP round trip, ended by ``deadline``; every failure becomes a :class:`ChatError` with its category.

        ``timeout_s`` bounds each socket operation, but a server that sends a byte now and then never trips it; a
        timer therefore shuts the socket down at the deadline, which ends a blocked connect, send or read at once.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ChatError("timeout", self._deadline_message())
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        per_op = min(self.timeout_s, remaining)
        connection_class = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = connection_class(self._host, self._port, timeout=per_op)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

        timer = threading.Timer(remaining, expire)
        timer.daemon = True
        timer.start()
        connected = False
        try:
            conn.connect()
            connected = True
            conn.request("POST", self._path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read(_MAX_BODY + 1)
            status, response_headers = response.status, response.headers
        except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
            if expired.is_set() or (isinstance(exc, TimeoutError) and per_op < self.timeout_s):
                raise ChatError("timeout", self._deadline_message()) from None
            if isinstance(exc, TimeoutError):
                raise ChatError("timeout", f"no answer from {self.url} within {self.timeout_s:g} s") from None
            if not connected:
                raise ChatError("connection", f"cannot reach {self.url}: {self._scrub(str(exc))}") from None
            raise ChatError("connection", f"connection to {self.url} failed: {self._scrub(repr(exc))}") from None
        finally:
            timer.cancel()
            conn.close()
        if expired.is_set():  # the read ended because the timer shut the socket
            raise ChatError("timeout", self._deadline_message())
        if not 200 <= status < 300:
            self._raise_for_status(status, raw, response_headers)
        if len(raw) > _MAX_BODY:
            raise ChatError("bad_response", f"{self.url} sent an answer larger than {_MAX_BODY} bytes")
        return self._content_of(raw)

    def _deadline_message(self) -> str:
        return (f"no complete answer from {self.url} within deadline_s={self.deadline_s:g} s (the limit of the whole "
                "request, retries included; raise it for a slower server)")

    def _raise_for_status(self, status: int, raw: bytes, headers: http.client.HTTPMessage) -> None:
        detail = self._scrub(raw.decode("utf-8", "replace").strip(), _QUOTE_CHARS)
        message = f"HTTP {status} from {self.url}" + (f": {detail}" if detail else "")
        if status == 429 or status >= 500:
            retry_after = self._retry_after(headers)
            cause: CallCause = "rate_limited" if status == 429 else "server_error"
            raise ChatError(cause, message, status, retry_after)
        raise ChatError("http_error", message + _hint_for_status(status), status)

    def _retry_after(self, headers: http.client.HTTPMessage) -> float | None:
        value = headers.get("Retry-After")
        seconds = parse_retry_after(value)
        if value is not None and value.strip() and seconds is None:
            logger.warning("ignoring unreadable Retry-After header %r", self._scrub(value, 100))
        return seconds

    def _content_of(self, raw: bytes) -> str:
        """The first choice's message text of a chat-completions response body (scrubbed of the key)."""
        try:
            payload = json.loads(raw)
            message = payload["choices"][0]["message"]
            content = message["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            snippet = self._scrub(raw.decode("utf-8", "replace"), 200)
            raise ChatError("bad_response", f"{self.url} did not return a chat completion: {snippet!r}") from None
        if isinstance(content, list):  # some servers return content parts even for text answers
            content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        if not isinstance(content, str) or not content.strip():
            reason = self._scrub(repr(payload["choices"][0].get("finish_reason")), 100)
            raise ChatError("bad_response", f"{self.url} returned an empty answer (finish_reason={reason})")
        return self._scrub(content)


def _hint_for_status(status: int) -> str:
    if status in (401, 403):
        return (" (check the api_key / api_key_env of the LLMJudgeConfig or UserSimulatorConfig: the server refused "
                "the key)")
    if status == 404:
        return " (base_url should end with the API version, e.g. http://host:8000/v1; check the model name too)"
    if 300 <= status < 400:
        return " (the endpoint redirects; set base_url to the address it redirects to)"
    return ""
