"""A small, dependency-free client for OpenAI-compatible chat-completions endpoints.

It sends ``POST {base_url}/chat/completions`` with ``model``, ``messages``, ``temperature`` and ``max_tokens`` and
returns the first choice's message content. Transient failures (HTTP 429, 5xx, timeouts, refused or dropped
connections) are retried with exponential backoff and jitter drawn from a generator the caller passes, honouring a
server's ``Retry-After``; other 4xx answers are not retried because sending the same request again cannot help.

Every request and retry is counted in a :class:`JudgeStats` that a training loop can log. Nothing here reads
environment variables: the API key is an argument, and the opener ignores ``*_proxy`` variables so that a stray
proxy setting cannot silently reroute judge traffic (or loopback test traffic).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
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
            logger.warning("ignoring unreadable Retry-After header %r", value)
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = time.time() if now is None else now
        seconds = when.timestamp() - current
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _is_timeout(exc: BaseException | str | None) -> bool:
    return isinstance(exc, TimeoutError) or (isinstance(exc, str) and "timed out" in exc)


class ChatClient:
    """Chat-completions client with timeouts and retries.

    Args:
        base_url: endpoint root including the API version, e.g. ``"http://127.0.0.1:8000/v1"``.
        model: model name sent with each request.
        api_key: sent as ``Authorization: Bearer <key>`` when given.
        timeout_s: socket timeout for connecting and for each read.
        max_retries: how many times a transient failure is retried (0 = one try only).
        backoff_base_s: first backoff cap (see :func:`backoff_delay`).
        backoff_max_s: largest backoff cap.
        retry_after_max_s: the longest ``Retry-After`` honoured; a server asking for more fails the request at once
            rather than stalling training.
        stats: counters to update; a fresh one if omitted.
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
        stats: JudgeStats | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.retry_after_max_s = retry_after_max_s
        self.stats = stats if stats is not None else JudgeStats()
        self._opener = self._build_opener()

    @staticmethod
    def _build_opener() -> urllib.request.OpenerDirector:
        # An empty ProxyHandler turns off urllib's default reading of *_proxy environment variables.
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_opener"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._opener = self._build_opener()

    def __repr__(self) -> str:
        return f"ChatClient(url={self.url!r}, model={self.model!r}, api_key={'***' if self._api_key else None})"

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        rng: np.random.Generator,
        temperature: float = 0.0,
        max_tokens: int = 512,
    ) -> str:
        """Send one chat completion, retrying transient failures, and return the answer's text.

        Args:
            messages: OpenAI-format messages (``content`` may be a string or a list of content parts).
            rng: source of the backoff jitter (pass one generator per request for reproducible schedules).
            temperature: sampling temperature.
            max_tokens: answer length limit.

        Returns:
            The first choice's message content.

        Raises:
            ChatError: when the request failed and retries (if the cause allows them) are used up.
        """
        body = json.dumps(
            {"model": self.model, "messages": list(messages), "temperature": temperature, "max_tokens": max_tokens}
        ).encode("utf-8")
        attempt = 0
        while True:
            self.stats.add_call()
            try:
                return self._post(body)
            except ChatError as err:
                if not err.retryable or attempt >= self.max_retries:
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
                logger.info(
                    "judge request failed (%s); retry %d/%d in %.3f s", err, attempt + 1, self.max_retries, delay
                )
                self.stats.add_retry(err.cause)
                time.sleep(delay)
                attempt += 1

    def _post(self, body: bytes) -> str:
        """One HTTP round trip; every failure becomes a :class:`ChatError` with its category."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                detail = exc.read(500).decode("utf-8", "replace").strip()
            except (OSError, http.client.HTTPException):
                detail = ""
            message = f"HTTP {status} from {self.url}" + (f": {detail}" if detail else "")
            if status == 429:
                retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                raise ChatError("rate_limited", message, status, retry_after) from None
            if status >= 500:
                retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                raise ChatError("server_error", message, status, retry_after) from None
            raise ChatError("http_error", message + _hint_for_status(status), status) from None
        except urllib.error.URLError as exc:
            if _is_timeout(exc.reason):
                raise ChatError("timeout", f"no answer from {self.url} within {self.timeout_s:g} s") from None
            raise ChatError("connection", f"cannot reach {self.url}: {exc.reason}") from None
        except TimeoutError:
            raise ChatError("timeout", f"no answer from {self.url} within {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ChatError("connection", f"connection to {self.url} failed: {exc!r}") from None
        return _content_of(raw, self.url)


def _hint_for_status(status: int) -> str:
    if status in (401, 403):
        return " (check the api_key passed to the judge config)"
    if status == 404:
        return " (base_url should end with the API version, e.g. http://host:8000/v1; check the model name too)"
    return ""


def _content_of(raw: bytes, url: str) -> str:
    """The first choice's message text of a chat-completions response body."""
    try:
        payload = json.loads(raw)
        message = payload["choices"][0]["message"]
        content = message["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        snippet = raw[:200].decode("utf-8", "replace")
        raise ChatError("bad_response", f"{url} did not return a chat completion: {snippet!r}") from None
    if isinstance(content, list):  # some servers return content parts even for text answers
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str) or not content.strip():
        reason = payload["choices"][0].get("finish_reason")
        raise ChatError("bad_response", f"{url} returned an empty answer (finish_reason={reason!r})")
    return content
