"""The checks an endpoint config shares (the LLM judge's and the simulated user's): URL, model, key variable,
timeouts and backoff, counts, temperature, image encoding. Every error names the field and what to pass instead."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Mapping

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What an environment variable's name looks like."""


def real(name: str, value: Any) -> float:
    """``value`` if it is a real number (not a bool); a ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got a {type(value).__name__}")
    return float(value)


def check_endpoint(config: Any, served: str, key_example: str, counts: Mapping[str, tuple[Any, int]]) -> None:
    """Check the fields every endpoint config has.

    Args:
        config: The config (its ``base_url``, ``model``, ``api_key_env``, timing, ``temperature`` and image fields).
        served: What ``model`` names, for the message (e.g. ``"the judge model"``).
        key_example: An example variable name for ``api_key_env`` (e.g. ``"JUDGE_API_KEY"``).
        counts: ``{field: (value, lowest allowed)}`` of the config's integer fields.

    Raises:
        ValueError: naming the first field that is wrong.
    """
    if not isinstance(config.base_url, str) or not config.base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must be an http(s) URL such as 'http://localhost:8000/v1', got {config.base_url!r}")
    if config.base_url.rstrip("/").endswith("/chat/completions"):
        raise ValueError(
            f"base_url should stop before '/chat/completions' (the client adds it), got {config.base_url!r}"
        )
    if not isinstance(config.model, str) or not config.model.strip():
        raise ValueError(f"model must name {served} served at base_url, got {config.model!r}")
    # Whatever was passed as api_key_env may be a key pasted in the wrong place: only its type is shown.
    if config.api_key_env is not None and (
        not isinstance(config.api_key_env, str) or not ENV_NAME.fullmatch(config.api_key_env)
    ):
        raise ValueError(
            "api_key_env must be the name of an environment variable (letters, digits and '_', e.g. "
            f"'{key_example}'), not the key itself; got a {type(config.api_key_env).__name__} that is not such a "
            "name (not shown, in case it is the key)"
        )
    for name in ("timeout_s", "deadline_s"):
        value = real(name, getattr(config, name))
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be > 0 seconds (and finite), got {value!r}")
    for name in ("backoff_base_s", "backoff_max_s", "retry_after_max_s"):
        value = real(name, getattr(config, name))
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    if config.backoff_max_s < config.backoff_base_s:
        raise ValueError(f"backoff_max_s ({config.backoff_max_s}) must be >= backoff_base_s ({config.backoff_base_s})")
    for name, (value, low) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not 0.0 <= real("temperature", config.temperature) <= 2.0:
        raise ValueError(f"temperature must be in [0, 2], got {config.temperature!r}")
    side = config.image_max_side
    if side is not None and (isinstance(side, bool) or not isinstance(side, int) or side < 8):
        raise ValueError(f"image_max_side must be an integer >= 8 or None, got {side!r}")
    if config.image_format not in ("JPEG", "PNG"):
        raise ValueError(f"image_format must be 'JPEG' or 'PNG', got {config.image_format!r}")


def key_from_env(name: str, whose: str, built: str) -> str:
    """The value of environment variable ``name`` (an endpoint's bearer token).

    Raises:
        ValueError: if it is not set or is empty, naming the variable and what to export (never a value).
    """
    value = os.environ.get(name)
    if not value:
        raise ValueError(
            f"api_key_env={name!r}, but that environment variable is not set (or is empty); "
            f"export {name}=<{whose}> before building {built}"
        )
    return value

