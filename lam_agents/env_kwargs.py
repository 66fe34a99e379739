"""Env keywords as JSON: read from ``lam train --env-kwargs``, recorded in ``run.json`` without secrets, rebuilt for
``lam eval``.

The JSON is an object of :class:`~lam_envs.envs.config.ConversationConfig` fields. The judge is ``"rule"`` or an LLM
judge given as ``{"llm_judge": {...}}`` with :class:`~lam_envs.rewards.llm.LLMJudgeConfig` fields; its key is never
part of it: name the environment variable that holds it (``api_key_env``), read when the judge is built::

    export JUDGE_API_KEY=...
    lam train --env lam/MMRole-Latent-v0 --env-kwargs '{"judge_failure_reward": 0.0, "reward": {"llm_judge":
        {"base_url": "http://localhost:8000/v1", "model": "Qwen2.5-72B-Instruct", "api_key_env": "JUDGE_API_KEY"}}}'

:func:`env_kwargs_record` writes the same shape (secrets left out, objects JSON cannot hold described by their type),
so the ``env_kwargs`` of a ``run.json`` can be passed back to ``--env-kwargs``, and :func:`env_kwargs_from_record`
turns it back into keywords for ``gym.make``.

An LLM judge with ``on_failure="raise"`` raises before the env's ``judge_failure_reward`` can apply; when that reward is
set, the judge built from JSON is switched to ``on_failure="flag"`` (with a log line), so the setting does what it
says.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import logging
import numbers
from pathlib import PurePath
from typing import Any, Mapping

from lam_envs.envs.config import ConversationConfig
from lam_envs.rewards.llm import LLMJudgeConfig
from lam_envs.rewards.llm.judge import API_KEY_NOT_STORED

logger = logging.getLogger(__name__)

LLM_JUDGE = "llm_judge"
"""The key of an LLM judge's settings under ``"reward"``."""
NOT_RECORDED = "not_recorded"
"""The key of a record entry standing for a value that ``run.json`` cannot hold (its type is the value)."""

_SECRET_NAMES = frozenset({"api_key", "apikey", "secret", "password", "token", "access_token", "auth_token",
                           "authorization", "bearer"})
"""Mapping keys whose values are never recorded, wherever they appear (e.g. inside ``dataset``)."""


class _NotRecordable(Exception):
    """A value (or a part of it) that JSON cannot hold."""


def parse_env_kwargs(text: str, judge_api_key_env: str | None = None) -> dict[str, Any]:
    """The env keywords of ``lam train --env-kwargs`` JSON (see the module docstring for the shape).

    Args:
        text: a JSON object of ``ConversationConfig`` fields.
        judge_api_key_env: the LLM judge's ``api_key_env``, overriding the JSON's.

    Returns:
        Keywords for ``gym.make`` / ``make_vec_env`` (``reward`` an ``LLMJudgeConfig`` for an LLM judge).

    Raises:
        ValueError: for text that is not a JSON object, an unknown key, an ``api_key`` in the JSON, or a bad value;
            the message names the key and the fix and never quotes the text (it may hold a key).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); write an object such as "
                         '\'{"max_reply_tokens": 32}\'') from None
    return _rebuild(data, "--env-kwargs", judge_api_key_env, require_judge_key=True)


def env_kwargs_record(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` as JSON-safe data for ``run.json`` and logs, with every secret left out.

    An ``LLMJudgeConfig`` becomes ``{"llm_judge": config.to_record()}`` (the key's variable name, never the key);
    paths become strings, enums their values; a value under a secret-looking key (``api_key``, ``token``, ...) and
    any object JSON cannot hold (a loaded model, samples, a custom reward) become
    ``{"not_recorded": "<module.Type>", "note": ...}``, which :func:`env_kwargs_from_record` refuses with the fix.

    Args:
        kwargs: env keywords as passed to ``gym.make``.

    Returns:
        A dict that ``json.dumps`` writes as is and that contains no secret.
    """
    record: dict[str, Any] = {}
    for key, value in kwargs.items():
        name = str(key)
        if _is_secret_name(name):
            record[name] = _marker("secret", f"the value of {name!r} is a secret and is never written to a run")
            continue
        try:
            record[name] = _json_safe(value)
        except _NotRecordable:
            kind = f"{type(value).__module__}.{type(value).__qualname__}"
            record[name] = _marker(kind, f"a {type(value).__name__} cannot be written to run.json; pass {name} again "
                                         "when rebuilding the env")
    return record


def env_kwargs_from_record(record: Mapping[str, Any], judge_api_key_env: str | None = None,
                           require_judge_key: bool = True) -> dict[str, Any]:
    """Env keywords rebuilt from ``run.json``'s ``env_kwargs`` (written by :func:`env_kwargs_record`).

    Also reads runs written before secrets were stripped, whose ``reward`` is the LLM judge's fields (a stored
    ``api_key`` there is ignored, with a warning to delete it from the file).

    Args:
        record: the recorded keywords.
        judge_api_key_env: the environment variable holding the LLM judge's key, overriding the record's (needed for
            a judge that was given a literal key, which is not recorded).
        require_judge_key: ``False`` where the judge will never send a request (e.g. ``lam chat``): a judge whose
            key was not recorded is then rebuilt without one instead of raising.

    Returns:
        Keywords for ``gym.make`` / ``make_vec_env``.

    Raises:
        ValueError: for an entry that could not be recorded (pass that keyword again), an unknown key, or an LLM
            judge that needs ``judge_api_key_env``; the message names the key and the fix.
    """
    return _rebuild(record, "run.json env_kwargs", judge_api_key_env, require_judge_key)


def _rebuild(data: Any, where: str, judge_api_key_env: str | None, require_judge_key: bool) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object of env keywords, got a {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(ConversationConfig)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"{where}: unknown env keyword {key!r}{hint}; the keywords are: {', '.join(names)}")
        if _is_marker(value):
            raise ValueError(
                f"{where}: {key!r} was a {value[NOT_RECORDED]} when the run was trained, which run.json cannot hold; "
                f"pass {key} again (e.g. evaluate_run(..., env_overrides={{{key!r}: ...}}))"
            )
        kwargs[key] = _reward(value, where, judge_api_key_env, require_judge_key) if key == "reward" else value
    judge = kwargs.get("reward")
    if isinstance(judge, LLMJudgeConfig) and judge.on_failure == "raise" and \
            kwargs.get("judge_failure_reward") is not None:
        logger.info("the LLM judge flags failed pairs (on_failure='flag') so that judge_failure_reward=%s applies to "
                    "them; with on_failure='raise' it would raise first", kwargs["judge_failure_reward"])
        kwargs["reward"] = dataclasses.replace(judge, on_failure="flag")
    try:
        ConversationConfig(**kwargs)  # validates every value now, not after the backbone has loaded
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return kwargs


def _reward(value: Any, where: str, api_key_env: str | None, require_key: bool) -> Any:
    """``"rule"`` as is; ``{"llm_judge": {...}}`` (or an old run's bare judge fields) as an ``LLMJudgeConfig``."""
    if not isinstance(value, Mapping):
        return value  # "rule" (anything else is refused by ConversationConfig, with its message)
    if set(value) == {LLM_JUDGE}:
        settings = value[LLM_JUDGE]
    elif "base_url" in value and "model" in value:  # run.json of a run trained before secrets were stripped
        settings = dict(value)
        if settings.pop("api_key", None) is not None:
            logger.warning("%s stores the LLM judge's api_key in plain text (written by an older `lam train`); it is "
                           "not used: delete it from the file and supply the key with api_key_env", where)
            settings[API_KEY_NOT_STORED] = "removed"
    else:
        keys = ", ".join(repr(str(k)) for k in value)
        raise ValueError(f'{where}: reward must be "rule" or {{"{LLM_JUDGE}": {{...LLMJudgeConfig fields...}}}}, '
                         f"got an object with the keys {keys}")
    try:
        return LLMJudgeConfig.from_record(settings, api_key_env=api_key_env, require_key=require_key)
    except ValueError as exc:
        raise ValueError(f"{where}: reward.{LLM_JUDGE}: {exc}") from None


def _json_safe(value: Any) -> Any:
    if isinstance(value, LLMJudgeConfig):
        return {LLM_JUDGE: value.to_record()}
    if isinstance(value, enum.Enum):  # before str: Split is a str enum
        return _json_safe(value.value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise _NotRecordable
        return {k: (_marker("secret", "a secret is never written to a run") if _is_secret_name(k) else _json_safe(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    raise _NotRecordable


def _is_secret_name(name: str) -> bool:
    return name.lower().replace("-", "_") in _SECRET_NAMES


def _marker(kind: str, note: str) -> dict[str, str]:
    return {NOT_RECORDED: kind, "note": note}


def _is_marker(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {NOT_RECORDED, "note"}
