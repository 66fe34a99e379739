"""Every setting is checked at construction with an error naming the parameter, the bad value and the fix: the
config's typed fields, reset options, latent-only keywords, num_envs and action arrays."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.types import Split
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.conversation import ConversationEnv
from lam_envs.envs.vector import ConversationVectorEnv

NAN, INF = math.nan, math.inf

INT_FIELDS = {"max_reply_tokens": (1, 32_768), "data_seed": (0, None), "obs_image_size": (64, 1024)}
OPTIONAL_INT_FIELDS = {"num_samples": 1, "top_k": 1}
FLOAT_FIELDS = {  # name: (low, high) of the accepted range
    "temperature": (1e-3, 1e3),
    "obs_bound": (0.0, None),
    "step_penalty": (0.0, None),
    "truncation_penalty": (0.0, None),
    "success_threshold": (0.0, 10.0),
}
OPTIONAL_FLOAT_FIELDS = {"mask_top_p": (0.0, 1.0), "judge_failure_reward": (None, None)}
CHOICE_FIELDS = {"dtype": "float32", "decoding": "greedy", "observation": "embedding", "prompt_style": "full"}

WRONG_TYPES = ["64", b"1", [1], {"a": 1}, object()]


def bad_int_values(low: int | None, high: int | None) -> list[tuple[Any, type[Exception]]]:
    cases: list[tuple[Any, type[Exception]]] = [(2.5, TypeError), (3.0, TypeError), (True, TypeError),
                                                (False, TypeError), (np.bool_(True), TypeError), (NAN, TypeError)]
    cases += [(v, TypeError) for v in WRONG_TYPES]
    if low is not None:
        cases += [(low - 1, ValueError), (np.int64(low - 1), ValueError), (-(10**12), ValueError)]
    if high is not None:
        cases += [(high + 1, ValueError), (10**12, ValueError)]
    return cases


def bad_float_values(low: float | None, high: float | None) -> list[tuple[Any, type[Exception]]]:
    cases: list[tuple[Any, type[Exception]]] = [(NAN, ValueError), (INF, ValueError), (-INF, ValueError),
                                                (np.float32("nan"), ValueError), (True, TypeError), (None, TypeError)]
    cases += [(v, TypeError) for v in WRONG_TYPES]
    if low is not None:
        cases += [(low - 1e-6 if low else -1e-9, ValueError), (low - 5, ValueError)]
    if high is not None:
        cases += [(high * 1.001, ValueError), (high + 100, ValueError)]
    return cases


CASES: list[tuple[str, Any, type[Exception]]] = []
for _name, (_lo, _hi) in INT_FIELDS.items():
    CASES += [(_name, v, e) for v, e in bad_int_values(_lo, _hi) + [(None, TypeError)]]
for _name, _lo in OPTIONAL_INT_FIELDS.items():
    CASES += [(_name, v, e) for v, e in bad_int_values(_lo, None)]
for _name, (_lo, _hi) in FLOAT_FIELDS.items():
    CASES += [(_name, v, e) for v, e in bad_float_values(_lo, _hi)]
for _name, (_lo, _hi) in OPTIONAL_FLOAT_FIELDS.items():
    CASES += [(_name, v, e) for v, e in bad_float_values(_lo, _hi) if v is not None]
CASES += [("obs_bound", 0.0, ValueError), ("temperature", 0.0, ValueError), ("mask_top_p", 0.0, ValueError)]
for _name in CHOICE_FIELDS:
    CASES += [(_name, v, ValueError) for v in ("bogus", "", 3, ["full"])]
CASES += [(n, None, ValueError) for n in ("dtype", "decoding", "observation")]
CASES += [
    ("samples", ["x"], TypeError),
    ("samples", "abc", TypeError),
    ("samples", 3, TypeError),
    ("samples", iter([]), TypeError),
    ("samples", [None], TypeError),
    ("dataset", ["dialogues.json"], TypeError),
    ("dataset", "mmrole", TypeError),
    ("split", "train", ValueError),
    ("split", 3, TypeError),
    ("split", None, TypeError),
    ("reward", "llm", ValueError),
    ("reward", 42, TypeError),
    ("reward", None, TypeError),
    ("device", "gpu", ValueError),
    ("device", 0, TypeError),
    ("device", None, TypeError),
    ("backbone", "", ValueError),
    ("backbone", "  ", ValueError),
    ("backbone", 3, TypeError),
    ("backbone", True, TypeError),
    ("latent_model", "", ValueError),
    ("latent_model", 1.5, TypeError),
]
if not torch.cuda.is_available():
    CASES += [("device", "cuda", ValueError), ("device", "cuda:0", ValueError)]
elif torch.cuda.device_count() < 64:
    CASES += [("device", "cuda:63", ValueError)]


@pytest.mark.parametrize(("name", "value", "error"), CASES, ids=[f"{n}={v!r:.20}" for n, v, _ in CASES])
def test_bad_setting_names_the_parameter(name: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        ConversationConfig(**{name: value})
    message = str(info.value)
    assert message.startswith(f"{name}") and ("pass" in message or "expected" in message), message


def test_every_field_has_a_check() -> None:
    # A new setting without a check would fail here, not silently accept anything.
    unchecked = [f.name for f in dataclasses.fields(ConversationConfig) if "check" not in f.metadata]
    assert unchecked == []
    for f in dataclasses.fields(ConversationConfig):  # every default passes its own check unchanged
        assert f.metadata["check"](f.name, f.default) == f.default or f.name == "split"


def test_good_values_are_normalised() -> None:
    config = ConversationConfig(max_reply_tokens=np.int64(8), temperature=2, step_penalty=np.float32(0.5),
                                split="test_ood", num_samples=np.int32(3), judge_failure_reward=-1,
                                samples=synthetic_samples("mmrole", "rl", n=2), backbone=Path("some/dir"))
    assert type(config.max_reply_tokens) is int and config.max_reply_tokens == 8
    assert type(config.temperature) is float and type(config.step_penalty) is float
    assert config.split is Split.TEST_OOD and type(config.num_samples) is int
    assert config.judge_failure_reward == -1.0 and type(config.judge_failure_reward) is float


def test_messages_name_value_and_fix() -> None:
    with pytest.raises(TypeError, match=r"^max_reply_tokens=2\.5 is a float; pass an int in \[1, 32768\]"):
        ConversationConfig(max_reply_tokens=2.5)
    with pytest.raises(TypeError, match=r"^num_samples=True is a bool; pass an int >= 1 or None"):
        ConversationConfig(num_samples=True)
    with pytest.raises(ValueError, match=r"^temperature=inf is out of range; .*decoding='greedy'"):
        ConversationConfig(temperature=INF)
    with pytest.raises(ValueError, match=r"^step_penalty=-0\.1 .* >= 0 \(it is subtracted"):
        ConversationConfig(step_penalty=-0.1)
    with pytest.raises(TypeError, match=r"^samples\[0\]='x' is a str; pass lam_envs\.data\.types\.Sample"):
        ConversationConfig(samples=["x"])
    with pytest.raises(ValueError, match=r"^obs_image_size=100000 is out of range; pass an int in \[64, 1024\]"):
        ConversationConfig(obs_image_size=100_000)


# ---------------------------------------------------------------------------------------------------- env keywords
@pytest.mark.parametrize(("name", "value"), [("decoding", "sample"), ("temperature", 0.5), ("top_k", 8)])
def test_token_env_rejects_latent_only_settings(env_kwargs: dict[str, Any], name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"^{name}=.*only applies to latent envs.*action_space='latent'"):
        ConversationEnv("mmrole", "token", **{**env_kwargs, name: value})
    with pytest.raises(ValueError, match=name):
        ConversationVectorEnv(2, "mmrole", "token", **{**env_kwargs, name: value})
    ConversationEnv("mmrole", "latent", **{**env_kwargs, name: value})  # latent envs take them
    ConversationEnv("mmrole", "token", **env_kwargs)  # latent_model is accepted (one set of keywords, both twins)


@pytest.mark.parametrize("num_envs", [0, -2, True, 2.0, "2", None, np.bool_(True)])
def test_num_envs_is_a_positive_int(env_kwargs: dict[str, Any], num_envs: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"^num_envs="):
        ConversationVectorEnv(num_envs, "mmrole", "token", **env_kwargs)


@pytest.mark.parametrize(
    "options",
    [{"bogus": 1}, {"sample_index": 0, "seed": 3}, {"reset_mask": np.array([True])}, {"Sample_Index": 1}],
)
def test_unknown_reset_option_is_named(env_kwargs: dict[str, Any], options: dict[str, Any]) -> None:
    env = ConversationEnv("mmrole", "token", **env_kwargs)
    env.reset(seed=0)
    env.step(3)
    unknown = sorted(k for k in options if k != "sample_index")
    with pytest.raises(ValueError, match=rf"unknown reset option\(s\) \[{unknown[0]!r}.*sample_index"):
        env.reset(options=options)
    env.step(4)  # a rejected reset changes nothing


@pytest.mark.parametrize("options", [{"bogus": 1}, {"sample_index": 0, "seed": 3}])
def test_vector_unknown_reset_option_is_named(env_kwargs: dict[str, Any], options: dict[str, Any]) -> None:
    envs = ConversationVectorEnv(2, "mmrole", "token", **env_kwargs)
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['(bogus|seed)'\].*reset_mask"):
        envs.reset(options=options)


@pytest.mark.parametrize("options", [[("sample_index", 0)], "sample_index"])
def test_options_must_be_a_dict(env_kwargs: dict[str, Any], options: Any) -> None:
    with pytest.raises(TypeError, match="options="):
        ConversationEnv("mmrole", "token", **env_kwargs).reset(options=options)


@pytest.mark.parametrize(("index", "error"), [(2.5, TypeError), ("1", TypeError), (True, TypeError),
                                              (-1, ValueError), (6, ValueError), (10**20, ValueError)])
def test_sample_index_is_checked(env_kwargs: dict[str, Any], index: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="sample_index"):
        ConversationEnv("mmrole", "token", **env_kwargs).reset(options={"sample_index": index})
    envs = ConversationVectorEnv(2, "mmrole", "token", **env_kwargs)
    with pytest.raises(error, match="sample_index"):
        envs.reset(options={"sample_index": index})
    with pytest.raises(error, match="sample_index"):
        envs.reset(options={"sample_index": [0, index]})


@pytest.mark.parametrize(
    "mask", [np.array([1, 0]), [True, False], np.array([True]), np.array([True, False, True]),
             np.array([False, False])],
)
def test_reset_mask_is_checked(env_kwargs: dict[str, Any], mask: Any) -> None:
    envs = ConversationVectorEnv(2, "mmrole", "token", **env_kwargs)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="reset_mask"):
        envs.reset(options={"reset_mask": mask})


def test_reset_mask_needs_a_first_full_reset(env_kwargs: dict[str, Any]) -> None:
    envs = ConversationVectorEnv(2, "mmrole", "token", **env_kwargs)
    with pytest.raises(RuntimeError, match="without reset_mask"):
        envs.reset(options={"reset_mask": np.array([True, False])})
